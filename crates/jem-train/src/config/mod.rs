//! Training configuration.

use crate::kernels::{XSampler, YSampler};
use crate::optim::AdamConfig;
use ebm_core::{check_non_negative, check_positive, Error, Result};
use samplers_cont::{LangevinConfig, MalaConfig};
use samplers_disc::{DmalaConfig, GwgConfig};
use serde::{Deserialize, Serialize};

mod modes;
mod recovery;
mod summary;

pub use modes::{GenerationStart, NegativeLabels, YInitMode};
pub use recovery::RecoveryConfig;

/// Every hyper-parameter of a training run. Defaults are the paper's toy experiment (Table 1);
/// names are spelled the same in this struct, in config files and on the command line.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct TrainConfig {
    /// Training iterations (paper toy: 5 500).
    pub iterations: usize,
    /// Examples (and negative chains) per iteration (toy: 1 000).
    pub batch_size: i64,
    /// Adam learning rate after warm-up (toy: 1e-4).
    pub lr: f64,
    /// Linear warm-up iterations (toy: 1 000).
    pub warmup_iters: usize,
    /// Iteration from which the learning rate decays linearly to `lr · lr_decay_final` at the
    /// last iteration (0 = constant after warm-up, the paper's schedule); see
    /// [`crate::optim::scheduled_lr`].
    pub lr_decay_from: usize,
    /// The learning rate's final factor of the decay (`lr_decay_from > 0`), in `(0, 1]`.
    pub lr_decay_final: f64,
    /// Adam β and ε.
    pub adam: AdamConfig,
    /// EMA decay μ (0.99).
    pub ema_decay: f64,
    /// Weight `c` of the L2 penalty `c · (mean f⁺² + mean f⁻²)` on energies (0 = off).
    pub l2_energy: f64,
    /// Standard deviation `σ` of Gaussian noise added to every positive `x` (in the model's
    /// space, after the data source's preprocessing) at each iteration (0 = off = the paper).
    /// The model then learns the data density convolved with `N(0, σ²)`: hard edges of the
    /// data density (dSprites' logit-space dequantisation puts each background pixel's mode at
    /// the edge of its support) become slopes of width `σ`, which low-temperature Langevin
    /// does not overshoot. JEM uses `σ = 0.03` on images scaled to `[−1, 1]`. Changes the
    /// objective (**not in the paper**).
    pub data_noise: f64,
    /// Fraction `ρ` of the negative chains whose categorical groups are clamped, each
    /// iteration, to the labels of this batch's rows (the bits stay free): those chains sample
    /// `p(x, bits | groups⁺)` instead of the joint. The objective becomes `(1 − ρ) log p(x, y)
    /// + ρ log p(x, bits | groups)`, both maximised by the data distribution; the conditional
    /// chains must move `x` to the clamped labels — the move that conditional generation from
    /// noise makes and joint chains, whose labels follow `x`, never practise (0 = off = the
    /// paper; **not in the paper**). Needs a layout with categorical groups, the sampled
    /// negative phase and `cond_batch_size = 0`.
    pub conditional_negatives: f64,
    /// Probability that a conditional chain (`conditional_negatives`) starts afresh from
    /// `p₀(x) q₀(bits)`, its groups clamped as always, instead of from its replay-buffer state:
    /// a short-run chain from noise that must build the clamped sprite where the labels say —
    /// the start of conditional generation from noise. Buffer chains whose `x` already shows
    /// something else teach "not here"; fresh chains teach the nucleation. 0 = off (the
    /// buffer's own `reinit_prob` still applies); **not in the paper**.
    pub conditional_reinit_prob: f64,
    /// Persistent conditional chains: a fixed share `ρ` (`conditional_negatives`) of the replay
    /// buffer's slots holds conditional chains that keep their clamped groups for their whole
    /// life — the groups of a data row of the batch in which the chain (re)started from
    /// `p₀(x) q₀(bits)` — and each iteration `ρ·B` of the negatives are drawn from them (the
    /// rest from the joint slots). The conditional term's negative phase is
    /// `E_{groups ∼ data} E_{p(x, bits | groups)}`, so the clamped groups need only be a draw
    /// from the data, not the batch's own: each chain is then a PCD chain of one
    /// `p(x, bits | groups)`, as long-lived as generation from noise (200 sweeps at a 5 %
    /// restart rate, 10 sweeps per draw), where `false` (the default) clamps a random buffer
    /// state to this batch's groups each iteration, so a conditional chain has had 10 sweeps
    /// under its clamp. Until a slot first restarts, its groups are those its buffer state was
    /// drawn with (`q₀`: the data's frequencies per group). Needs `conditional_negatives > 0`;
    /// **not in the paper**.
    #[serde(default)]
    pub conditional_persistent: bool,
    /// Clip the global L2 norm of the parameter gradient to this value before each Adam step
    /// (0 = off, the paper's setting; the authors' joint code offers it as an option).
    pub clip_grad: f64,
    /// Multiplier of the learning rate of the label weights — the `y` columns of the energy's
    /// first layer (variables named `…first_weight_y`: [`crate::MlpEnergy`], and the head of
    /// [`crate::CnnEnergy`]); 1 = the paper. An optimisation choice, not a change of the
    /// objective or the model: under Adam it equals feeding the one-hot labels `scale` times
    /// larger. Adam moves each weight by about `lr` per step, so the labels' 10–256 weights per
    /// unit change the first layer's pre-activation far more slowly than the hundreds of `x`
    /// weights; a larger rate lets the label coupling `p(y | x)` keep pace (not in the paper).
    pub label_lr_scale: f64,
    /// Weight `α` of an **extra** conditional pseudo-log-likelihood term
    /// `−α · mean Σ_v log p(y_v | y_¬v, x⁺)` added to the loss (**not in the paper**; 0 = off =
    /// the paper). The joint log-likelihood already contains `log p(y | x)` once
    /// (`log p(x, y) = log p(x) + log p(y | x)`), so `α > 0` weights the conditional by `1 + α`
    /// (for one label group; a pseudo-likelihood for several) — a different objective, not
    /// JEM's (whose equal weights are the joint likelihood). Computed exactly by enumerating
    /// each label variable; see `conditional_pseudo_log_likelihood` — unless `cond_steps > 0`.
    pub cond_weight: f64,
    /// How the extra conditional term of `cond_weight` is estimated. `0` (default): the exact
    /// pseudo-log-likelihood by enumerating each variable's values. `k > 0`: by sampling, for
    /// label spaces too large or energies too costly to enumerate — `α · (mean f(x⁺, y^c) −
    /// mean f(x⁺, y⁺))` with `y^c` the state of `k` steps of the prediction kernel on `y` with
    /// `x⁺` fixed, started from `q₀(y)` (short-run chains, as the sample-based prediction's);
    /// its gradient estimates `−α ∇ log p(y⁺ | x⁺)` as well as `k` steps reach `p(y | x⁺)`.
    /// Not in the paper.
    pub cond_steps: usize,
    /// With `cond_steps > 0`, which conditionals the sampled term estimates: `false` (default)
    /// `log p(y | x⁺)` with chains over all of `y`; `true` a two-block pseudo-likelihood
    /// `log p(groups | bits⁺, x⁺) + log p(bits | groups⁺, x⁺)` — one chain over the
    /// categorical groups with the bits clamped at their data values, one over the bits with
    /// the groups clamped — so that neither block's signal is drowned by the other's (e.g.
    /// factors beside a 256-bit mask). Not in the paper.
    pub cond_split: bool,
    /// With `cond_steps = 0`, the extra conditional term over the **categorical groups only**,
    /// read from the label gradient: `Σ_g log softmax_g(∂f/∂y)[y_g⁺]` at `(x⁺, y⁺)` — exactly
    /// `Σ_g log p(y_g | y_¬g, x⁺)` for energies affine in each group's one-hot (the readout
    /// head of `MaskCnnEnergy`), a first-order approximation otherwise; one forward and one
    /// graph-keeping backward instead of one head evaluation per value of every variable.
    /// Not in the paper.
    pub cond_from_gradient: bool,
    /// Rows per iteration for the extra conditional term without sampled chains
    /// (`cond_weight > 0`, `cond_steps = 0`): 0 = the training batch; otherwise ≥
    /// `batch_size` — the data loader then serves this many labelled rows, the first
    /// `batch_size` of them form the positive phase and all of them the conditional term.
    /// Labelled data for the conditional cost one forward and backward per row, while the
    /// negative phase costs `sweeps` of them per row. Not in the paper.
    pub cond_batch_size: i64,
    /// Label treatment in the negative phase ([`NegativeLabels::Sampled`] = the paper).
    pub negative_labels: NegativeLabels,
    /// Automatic recovery from divergence (off by default; see [`RecoveryConfig`]).
    pub recovery: RecoveryConfig,
    /// Stop with `Error::Diverged` when the batch mean of `f⁺` or `f⁻` leaves
    /// `[−max_abs_energy, max_abs_energy]` (0 = off). Diverging runs reach 1e10 and beyond long
    /// before anything becomes non-finite; healthy runs here stay within a few hundred.
    pub max_abs_energy: f64,
    /// The kernel on `y` in every chain of the run (negative phase, imputation, sample-based
    /// prediction, test-time generation); [`YSampler::Gwg`] = the paper.
    pub y_sampler: YSampler,
    /// The kernel on `y` of sample-based prediction only (`None` = `y_sampler`, the paper's
    /// protocol: the training kernel). On a sharp posterior GWG's acceptance collapses and
    /// 200 steps no longer sample `p(y | x)`; exact Gibbs does, at the price of one evaluation
    /// per label value.
    pub predict_y_sampler: Option<YSampler>,
    /// The kernel on `x` in every joint chain of the run; [`XSampler::Langevin`] = the paper.
    pub x_sampler: XSampler,
    /// DMALA's settings when `y_sampler` is [`YSampler::Dmala`].
    pub dmala: DmalaConfig,
    /// MALA's settings when `x_sampler` is [`XSampler::Mala`] (default: noise scale 0.01).
    pub mala: MalaConfig,
    /// MWG sweeps per iteration for the negative chains (toy: 20).
    pub sweeps: usize,
    /// Replay buffer size (10 000).
    pub buffer_size: i64,
    /// Probability that a drawn chain restarts from noise (0.05).
    pub reinit_prob: f64,
    /// Probability that a drawn chain restarts at a data point of the current batch (its `x`,
    /// labels from `q₀(y)`) instead of its buffer state (0 = the paper). A choice of the
    /// negative sampler's starting points, not of the objective: the chains still target
    /// `p(x, y)`; chains near the data make the negative phase contrast the labels at data-like
    /// `x`, which sharpens `p(y | x)` early in training (not in the paper).
    pub data_reinit_prob: f64,
    /// Initial label distribution.
    pub y_init: YInitMode,
    /// Langevin on x (toy: ε = 0.1, λ = 0.5).
    pub langevin: LangevinConfig,
    /// GWG on y (temperature 2).
    pub gwg: GwgConfig,
    /// GWG steps to impute unobserved labels of the positive batch (observed ones clamped).
    pub impute_steps: usize,
    /// Fraction of each batch's rows whose **bits** (a mask) are dropped for the iteration:
    /// treated as unobserved and imputed by the positive phase's chain (`impute_steps` steps of
    /// the `y_sampler` from `q₀`, `x` and the categorical groups clamped), as Eq. 8 imputes
    /// labels that are missing. The positive phase then pairs some images' own factors with
    /// the model's partly formed masks — the states that prediction chains pass through — and
    /// the factor readout learns to work from them (structured sprites, validation split:
    /// shape 0.94 / 0.95 with a fixed tenth of the masks hidden against 0.78 / 0.79 with all
    /// observed). 0 = off (the paper); **not in the paper**. Needs a layout with bits.
    pub bit_dropout: f64,
    /// Evaluate every this many iterations (0 = only at the end).
    pub eval_every: usize,
    /// Test examples used for evaluation: the first `eval_examples` of the test set given to
    /// [`crate::Trainer::train`] (0 = all of it, the paper's full test split).
    pub eval_examples: i64,
    /// Chains per test input for sample-based prediction (10).
    pub eval_chains: i64,
    /// GWG steps per chain for sample-based prediction (200).
    pub eval_steps: usize,
    /// MWG sweeps of test-time sampling chains (figures, generation judges; 200 in the paper's
    /// figures).
    pub gen_sweeps: usize,
    /// Where test-time chains start.
    pub gen_start: GenerationStart,
    /// Write a checkpoint every this many iterations (0 = only at the end).
    pub checkpoint_every: usize,
    /// How many of the newest checkpoints to keep on disk (0 = every one; beside them the newest
    /// one marked healthy is always kept). 2 by default; keeping all lets a study branch from
    /// any point of a run (`--resume RUN/checkpoints/ckpt-00000800 --set …`).
    pub keep_checkpoints: usize,
    /// Seed of every random choice of the run.
    pub seed: u64,
}

impl Default for TrainConfig {
    fn default() -> Self {
        Self {
            iterations: 5_500,
            batch_size: 1_000,
            lr: 1e-4,
            warmup_iters: 1_000,
            lr_decay_from: 0,
            lr_decay_final: 0.1,
            adam: AdamConfig::default(),
            ema_decay: 0.99,
            l2_energy: 0.0,
            data_noise: 0.0,
            conditional_negatives: 0.0,
            conditional_reinit_prob: 0.0,
            conditional_persistent: false,
            clip_grad: 0.0,
            label_lr_scale: 1.0,
            cond_weight: 0.0,
            cond_steps: 0,
            cond_split: false,
            cond_from_gradient: false,
            cond_batch_size: 0,
            negative_labels: NegativeLabels::Sampled,
            max_abs_energy: 1e5,
            recovery: RecoveryConfig::default(),
            y_sampler: YSampler::Gwg,
            predict_y_sampler: None,
            x_sampler: XSampler::Langevin,
            dmala: DmalaConfig::default(),
            mala: MalaConfig::from_noise_scale(0.01),
            sweeps: 20,
            buffer_size: 10_000,
            reinit_prob: 0.05,
            data_reinit_prob: 0.0,
            y_init: YInitMode::Empirical,
            langevin: LangevinConfig::from_paper(0.1, 0.5),
            gwg: GwgConfig::default(),
            impute_steps: 20,
            bit_dropout: 0.0,
            eval_every: 500,
            eval_examples: 0,
            eval_chains: 10,
            eval_steps: 200,
            gen_sweeps: 200,
            gen_start: GenerationStart::Noise,
            checkpoint_every: 500,
            keep_checkpoints: 2,
            seed: 0,
        }
    }
}

impl TrainConfig {
    /// The most label configurations [`NegativeLabels::Expected`] enumerates.
    pub const MAX_ENUMERATED_CONFIGURATIONS: u64 = 4_096;

    /// Rejects impossible values with the parameter's name.
    pub fn validate(&self) -> Result<()> {
        check_positive("lr", self.lr)?;
        check_positive("label_lr_scale", self.label_lr_scale)?;
        if !(self.lr_decay_final > 0.0 && self.lr_decay_final <= 1.0) {
            return Err(Error::config(
                "lr_decay_final",
                self.lr_decay_final,
                "must be in (0, 1]",
            ));
        }
        if self.batch_size < 1 {
            return Err(Error::config("batch_size", self.batch_size, "must be ≥ 1"));
        }
        if self.cond_from_gradient && self.cond_steps > 0 {
            return Err(Error::config(
                "cond_from_gradient",
                true,
                "reads the conditional term from ∂f/∂y; it cannot be combined with the sampled \
                 term (cond_steps > 0)",
            ));
        }
        if self.cond_batch_size != 0
            && (self.cond_batch_size < self.batch_size
                || self.cond_weight <= 0.0
                || self.cond_steps > 0)
        {
            return Err(Error::config(
                "cond_batch_size",
                self.cond_batch_size,
                format!(
                    "must be 0 or ≥ batch_size ({}), with cond_weight > 0 and cond_steps = 0",
                    self.batch_size
                ),
            ));
        }
        if self.buffer_size < 1 {
            return Err(Error::config(
                "buffer_size",
                self.buffer_size,
                "must be ≥ 1",
            ));
        }
        if !(0.0..=1.0).contains(&self.reinit_prob) {
            return Err(Error::config(
                "reinit_prob",
                self.reinit_prob,
                "must be in [0, 1]",
            ));
        }
        if !(0.0..=1.0).contains(&self.data_reinit_prob) {
            return Err(Error::config(
                "data_reinit_prob",
                self.data_reinit_prob,
                "must be in [0, 1]",
            ));
        }
        if !(0.0..1.0).contains(&self.ema_decay) {
            return Err(Error::config(
                "ema_decay",
                self.ema_decay,
                "must be in [0, 1)",
            ));
        }
        check_non_negative("l2_energy", self.l2_energy)?;
        check_non_negative("data_noise", self.data_noise)?;
        if !(0.0..=1.0).contains(&self.conditional_negatives) {
            return Err(Error::config(
                "conditional_negatives",
                self.conditional_negatives,
                "must be in [0, 1]",
            ));
        }
        if self.conditional_negatives > 0.0
            && (self.negative_labels != NegativeLabels::Sampled || self.cond_batch_size != 0)
        {
            return Err(Error::config(
                "conditional_negatives",
                self.conditional_negatives,
                "needs negative_labels = sampled and cond_batch_size = 0",
            ));
        }
        if !(0.0..=1.0).contains(&self.conditional_reinit_prob) {
            return Err(Error::config(
                "conditional_reinit_prob",
                self.conditional_reinit_prob,
                "must be in [0, 1]",
            ));
        }
        if self.conditional_reinit_prob > 0.0 && self.conditional_negatives == 0.0 {
            return Err(Error::config(
                "conditional_reinit_prob",
                self.conditional_reinit_prob,
                "restarts conditional chains: needs conditional_negatives > 0",
            ));
        }
        if self.conditional_persistent && self.conditional_negatives == 0.0 {
            return Err(Error::config(
                "conditional_persistent",
                self.conditional_persistent,
                "keeps conditional chains in the buffer: needs conditional_negatives > 0",
            ));
        }
        if !(0.0..=1.0).contains(&self.bit_dropout) {
            return Err(Error::config(
                "bit_dropout",
                self.bit_dropout,
                "must be in [0, 1]",
            ));
        }
        check_non_negative("clip_grad", self.clip_grad)?;
        check_non_negative("cond_weight", self.cond_weight)?;
        check_non_negative("max_abs_energy", self.max_abs_energy)?;
        if self.eval_chains < 1 {
            return Err(Error::config(
                "eval_chains",
                self.eval_chains,
                "must be ≥ 1",
            ));
        }
        if self.eval_examples < 0 {
            return Err(Error::config(
                "eval_examples",
                self.eval_examples,
                "must be ≥ 0 (0 = the whole test set)",
            ));
        }
        let a = &self.adam;
        if !(0.0..1.0).contains(&a.beta1) || !(0.0..1.0).contains(&a.beta2) {
            return Err(Error::config(
                "adam",
                format!("{a:?}"),
                "betas must be in [0, 1)",
            ));
        }
        check_positive("adam.eps", a.eps)?;
        self.recovery.validate()?;
        self.langevin.validate()?;
        self.mala.validate()?;
        self.dmala.validate()?;
        self.gwg.validate()
    }
}
