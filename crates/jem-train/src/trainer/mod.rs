//! Persistent contrastive divergence with the joint MWG sampler (paper §4, appendix B).
//!
//! The trainer is split by concern: this file holds the type and its construction; `run.rs` the
//! training loop, its options and reports; `step.rs` one iteration; `evaluate.rs` evaluation and
//! test-time generation; `io.rs` checkpoints and resume.

mod distributed;
mod evaluate;
mod io;
pub(crate) use io::{load_params, read_chains, read_state};
mod recovery;
mod run;
mod step;

pub use distributed::{all_reduce_gradients, GRADIENT_BUCKET_ELEMENTS};
pub use recovery::{recovery_seed, RecoveryEvent};
pub use run::{IterationReport, Observer, Silent, TrainOptions, TrainSummary};

use crate::buffer::ReplayBuffer;
use crate::config::{NegativeLabels, TrainConfig, YInitMode};
use crate::kernels::{AnyContinuous, AnyDiscrete};
use crate::optim::Adam;
use crate::JointModel;
use ebm_core::{Batch, Collective, Error, JointEnergy, Result, XInit, YInit, YLayout};
use mwg::JointSampler;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Instant;
use tch::nn::{self, VarStore};
use tch::{Device, Kind, Tensor};

/// Persistent state saved in `state.json` of a checkpoint.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct RunState {
    pub(crate) iteration: usize,
    pub(crate) adam_steps: i64,
    pub(crate) config: TrainConfig,
    pub(crate) y_init: YInit,
    #[serde(default)]
    pub(crate) recoveries: Vec<RecoveryEvent>,
    /// The built-in network, when the run named it ([`Trainer::set_architecture`]).
    #[serde(default)]
    pub(crate) architecture: Option<crate::Architecture>,
}

/// A generation judge run at every evaluation (see [`Trainer::set_judge`]): named figures
/// computed from the trainer (typically by generating samples with [`Trainer::generate`] and
/// scoring them with an independent judge).
pub type Judge<M> = Box<dyn FnMut(&Trainer<M>) -> Result<BTreeMap<String, f64>>>;

/// Trains a joint EBM `f_θ(x, y)` (higher = more probable) by persistent contrastive
/// divergence (paper §4, appendix B; docs/REFERENCE-NOTES.md §4–5):
///
/// 1. positive phase: a data batch `(x⁺, y⁺)`; unobserved label variables are imputed by the `y_sampler`
///    with the observed ones clamped (paper Eq. 8);
/// 2. negative phase: `B` chains drawn from the replay buffer (each re-initialised with
///    probability `reinit_prob`), `sweeps` MWG sweeps (`y_sampler` + `x_sampler`; the paper: GWG + Langevin) with the **live** model,
///    `x` and `y` written back; parameters are frozen while sampling, so no weight-gradient graph
///    is built;
/// 3. loss `−(mean f⁺ − mean f⁻) + c (mean f⁺² + mean f⁻²) − α mean Σ_v log p(y_v | y_¬v, x⁺)`
///    (`c = l2_energy`, `α = cond_weight`; the paper has `c = α = 0`), from **one** forward over
///    the `2B` rows `[x⁺; x⁻]`; Adam with linear warm-up;
/// 4. EMA of the parameters (`ema_decay`), used for evaluation and test-time sampling.
///
/// Every iteration re-seeds torch's generator from `(seed, iteration)`, so a run resumed from a
/// checkpoint reproduces the uninterrupted run on the CPU.
pub struct Trainer<M: JointEnergy> {
    device: Device,
    vs: VarStore,
    model: M,
    /// The EMA model with the run's configuration, start distributions, replay buffer and
    /// iteration count: the one copy of each (evaluation and generation go through it).
    ema: JointModel<M>,
    adam: Adam,
    layout: YLayout,
    /// Every label configuration `[C, D]` when `negative_labels` is `Expected`.
    all_y: Option<Tensor>,
    /// Automatic recoveries so far (checkpointed).
    recoveries: Vec<RecoveryEvent>,
    /// The built-in network this run trains, if named (checkpointed).
    architecture: Option<crate::Architecture>,
    /// What lives only as long as this process (never checkpointed).
    session: Session<M>,
}

/// The parts of a [`Trainer`] that belong to this process, not to the run: rebuilt empty by
/// every constructor, never written to a checkpoint.
struct Session<M: JointEnergy> {
    judge: Option<Judge<M>>,
    /// Start of the current training call (for the reports' elapsed seconds).
    clock: Instant,
    /// The state to roll back to on divergence (when recovery is on).
    snapshot: Option<recovery::Snapshot>,
    /// Consecutive iterations with the energy gap beyond its limit.
    gap_streak: usize,
    /// The current snapshot interval: its first iteration and the largest `|gap|` in it.
    gap_window: (usize, f64),
    /// Checkpoints skipped by `resume` (unloadable), with the reason.
    resume_skipped: Vec<(PathBuf, String)>,
    /// The data-parallel group (`None`: a single process).
    group: Option<Box<dyn Collective>>,
    /// Seconds spent averaging gradients across ranks in the current training call.
    all_reduce_seconds: f64,
}

impl<M: JointEnergy> Session<M> {
    fn new() -> Self {
        Self {
            judge: None,
            clock: Instant::now(),
            snapshot: None,
            gap_streak: 0,
            gap_window: (0, 0.0),
            resume_skipped: Vec::new(),
            group: None,
            all_reduce_seconds: 0.0,
        }
    }
}

/// Refuses settings that the model's label layout cannot serve (at construction and on
/// resume; [`TrainConfig::validate`] checks what needs no layout).
fn check_layout(config: &TrainConfig, layout: &YLayout) -> Result<()> {
    if config.conditional_negatives > 0.0 && layout.groups().is_empty() {
        return Err(ebm_core::Error::config(
            "conditional_negatives",
            config.conditional_negatives,
            "clamps the categorical groups, and this layout has none",
        ));
    }
    if config.bit_dropout > 0.0 && layout.bits() == 0 {
        return Err(ebm_core::Error::config(
            "bit_dropout",
            config.bit_dropout,
            "drops the label bits, and this layout has none",
        ));
    }
    Ok(())
}

/// Every label configuration, one-hot `[C, D]` float on `device`, when the configuration asks
/// for the Rao-Blackwellised negative phase.
fn enumerated_labels(
    config: &TrainConfig,
    layout: &YLayout,
    device: Device,
) -> Result<Option<Tensor>> {
    match config.negative_labels {
        NegativeLabels::Sampled => Ok(None),
        NegativeLabels::Expected => {
            let values = layout.enumerate_values(TrainConfig::MAX_ENUMERATED_CONFIGURATIONS)?;
            Ok(Some(layout.encode(&values.to_device(device), Kind::Float)?))
        }
    }
}

fn iteration_seed(seed: u64, iteration: usize, stream: u64) -> i64 {
    // SplitMix64 of (seed, iteration, stream): independent-looking seeds per iteration.
    let mut z = seed
        .wrapping_add((iteration as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15))
        .wrapping_add(stream.wrapping_mul(0xD1B5_4A32_D192_ED03));
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    ((z ^ (z >> 31)) >> 1) as i64
}

/// The live model and its EMA twin, each on a `VarStore` of its own (tch's two-store pattern).
fn build_pair<M>(device: Device, build: &impl Fn(&nn::Path) -> M) -> (VarStore, M, VarStore, M) {
    let vs = VarStore::new(device);
    let model = build(&vs.root());
    let ema_vs = VarStore::new(device);
    let ema_model = build(&ema_vs.root());
    (vs, model, ema_vs, ema_model)
}

impl<M: JointEnergy> Trainer<M> {
    /// A new run: builds the live and EMA models with `build`, sets `p₀(x)` and `q₀(y)` from
    /// `first_batch` (one batch of training data, fully labelled entries used for `q₀`), and
    /// fills the buffer.
    pub fn new(
        config: TrainConfig,
        device: Device,
        build: impl Fn(&nn::Path) -> M,
        first_batch: &Batch,
    ) -> Result<Self> {
        config.validate()?;
        tch::manual_seed(iteration_seed(config.seed, usize::MAX, 1));
        let (vs, model, mut ema_vs, ema_model) = build_pair(device, &build);
        ema_vs.copy(&vs)?;
        ema_vs.freeze();
        let layout = model.y_layout().clone();
        let x_init = XInit::from_batch(&first_batch.x.to_device(device))?;
        let y_init = match config.y_init {
            YInitMode::Uniform => YInit::Uniform,
            YInitMode::Empirical => YInit::empirical(&layout, &first_batch.y.to_device(device))?,
            YInitMode::EmptyBits => empty_bits(
                YInit::empirical(&layout, &first_batch.y.to_device(device))?,
                &layout,
            ),
        };
        let buffer = ReplayBuffer::new(config.buffer_size, &x_init, &y_init, &layout)?;
        let adam = optimizer(&vs, &config)?;
        check_layout(&config, &layout)?;
        let all_y = enumerated_labels(&config, &layout, device)?;
        Ok(Self {
            device,
            vs,
            model,
            ema: JointModel {
                vs: ema_vs,
                energy: ema_model,
                config,
                x_init,
                y_init,
                buffer,
                iteration: 0,
                checkpoint: None,
            },
            adam,
            layout,
            all_y,
            recoveries: Vec::new(),
            architecture: None,
            session: Session::new(),
        })
    }

    /// The automatic recoveries of this run so far.
    pub fn recoveries(&self) -> &[RecoveryEvent] {
        &self.recoveries
    }

    /// The configuration in force.
    pub fn config(&self) -> &TrainConfig {
        &self.ema.config
    }
    /// Iterations completed.
    pub fn iteration(&self) -> usize {
        self.ema.iteration
    }
    /// The live model.
    pub fn model(&self) -> &M {
        &self.model
    }
    /// The EMA model (evaluation, test-time sampling).
    pub fn ema_model(&self) -> &M {
        &self.ema.energy
    }
    /// The EMA model as a [`JointModel`] (prediction, scoring, generation), as
    /// [`JointModel::load`] would load it from this run's next checkpoint.
    pub fn joint_model(&self) -> &JointModel<M> {
        &self.ema
    }
    /// The live parameters.
    pub fn var_store(&self) -> &VarStore {
        &self.vs
    }
    /// The EMA parameters.
    pub fn ema_var_store(&self) -> &VarStore {
        &self.ema.vs
    }
    /// The replay buffer.
    pub fn buffer(&self) -> &ReplayBuffer {
        &self.ema.buffer
    }
    /// The initial label distribution.
    pub fn y_init(&self) -> &YInit {
        &self.ema.y_init
    }

    /// Names the built-in network this run trains; written into every checkpoint from now on,
    /// so that [`JointModel::load_saved`](crate::JointModel::load_saved) rebuilds it. The
    /// caller vouches that `build` made this network (a mismatch fails at load, naming the
    /// parameter file).
    pub fn set_architecture(&mut self, architecture: crate::Architecture) {
        self.architecture = Some(architecture);
    }

    /// The built-in network recorded for this run, if any.
    pub fn architecture(&self) -> Option<&crate::Architecture> {
        self.architecture.as_ref()
    }
    /// The initial `x` distribution.
    pub fn x_init(&self) -> &XInit {
        &self.ema.x_init
    }
    /// The training device.
    pub fn device(&self) -> Device {
        self.device
    }

    /// Installs a generation judge, run after every evaluation of [`Trainer::train`]; its
    /// figures are added to [`EvalMetrics::judges`]. Torch's generator is seeded from the run's
    /// seed and the iteration before each call, so judged figures are reproducible.
    ///
    /// [`EvalMetrics::judges`]: crate::EvalMetrics::judges
    pub fn set_judge(&mut self, judge: Judge<M>) {
        self.session.judge = Some(judge);
    }

    /// Runs the installed judge (if any) on the current model; empty without a judge.
    pub fn judge(&mut self) -> Result<BTreeMap<String, f64>> {
        let Some(mut judge) = self.session.judge.take() else {
            return Ok(BTreeMap::new());
        };
        tch::manual_seed(iteration_seed(self.ema.config.seed, self.ema.iteration, 4));
        let out = judge(self);
        self.session.judge = Some(judge);
        out
    }

    /// The joint sampler of the run: the kernels `config.y_sampler` and `config.x_sampler` name.
    pub fn sampler(&self) -> Result<JointSampler<AnyDiscrete, AnyContinuous>> {
        self.ema.sampler()
    }
}

/// Adam over the trainable variables of `vs` with `config`'s constants and the label weights'
/// learning-rate multiplier ([`TrainConfig::label_lr_scale`]); an error when a multiplier other
/// than 1 is asked for an energy without label weights of that name.
pub(crate) fn optimizer(vs: &nn::VarStore, config: &TrainConfig) -> Result<Adam> {
    let mut adam = Adam::new(vs, config.adam.clone());
    if adam.scale_lr(crate::LABEL_WEIGHT_NAME, config.label_lr_scale) == 0
        && config.label_lr_scale != 1.0
    {
        return Err(Error::config(
            "label_lr_scale",
            config.label_lr_scale,
            format!(
                "this energy has no variable named …{} to apply it to",
                crate::LABEL_WEIGHT_NAME
            ),
        ));
    }
    Ok(adam)
}

/// `q₀` with every bit's probabilities replaced by a point mass at 0 ([`YInitMode::EmptyBits`]).
pub(crate) fn empty_bits(q0: YInit, layout: &YLayout) -> YInit {
    match q0 {
        YInit::Probs(mut p) => {
            for (v, pv) in p.iter_mut().enumerate() {
                if layout.is_bit(v) {
                    *pv = vec![1.0, 0.0];
                }
            }
            YInit::Probs(p)
        }
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Groups keep their frequencies; every bit becomes a point mass at 0.
    #[test]
    fn empty_bits_zeroes_only_the_bits() {
        let layout = YLayout::new(vec![2], 2).unwrap();
        let q0 = YInit::Probs(vec![vec![0.25, 0.75], vec![0.4, 0.6], vec![0.9, 0.1]]);
        assert_eq!(
            empty_bits(q0, &layout),
            YInit::Probs(vec![vec![0.25, 0.75], vec![1.0, 0.0], vec![1.0, 0.0]])
        );
        assert_eq!(empty_bits(YInit::Uniform, &layout), YInit::Uniform);
    }
}
