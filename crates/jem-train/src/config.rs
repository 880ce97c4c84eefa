//! Training configuration.

use crate::optim::AdamConfig;
use ebm_core::{check_non_negative, check_positive, Error, Result};
use samplers_cont::LangevinConfig;
use samplers_disc::GwgConfig;
use serde::{Deserialize, Serialize};

/// How the initial label distribution `q₀(y)` is chosen (paper appendix B, "Sampling noise").
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum YInitMode {
    /// Per-variable frequencies in one batch of training labels (toy data, MNIST).
    Empirical,
    /// Uniform over configurations (dSprites).
    Uniform,
}

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
    /// Adam β and ε.
    pub adam: AdamConfig,
    /// EMA decay μ (0.99).
    pub ema_decay: f64,
    /// Weight `c` of the L2 penalty `c · (mean f⁺² + mean f⁻²)` on energies (0 = off).
    pub l2_energy: f64,
    /// Weight `α` of the conditional pseudo-log-likelihood term `−α · mean Σ_v log p(y_v | y_¬v, x⁺)`
    /// added to the loss (JEM's hybrid objective; **not in the paper**, 0 = off = the paper).
    /// Computed exactly by enumerating each label variable; see `conditional_pseudo_log_likelihood`.
    pub cond_weight: f64,
    /// Stop with `Error::Diverged` when the batch mean of `f⁺` or `f⁻` leaves
    /// `[−max_abs_energy, max_abs_energy]` (0 = off). Diverging runs reach 1e10 and beyond long
    /// before anything becomes non-finite; healthy runs here stay within a few hundred.
    pub max_abs_energy: f64,
    /// MWG sweeps per iteration for the negative chains (toy: 20).
    pub sweeps: usize,
    /// Replay buffer size (10 000).
    pub buffer_size: i64,
    /// Probability that a drawn chain restarts from noise (0.05).
    pub reinit_prob: f64,
    /// Initial label distribution.
    pub y_init: YInitMode,
    /// Langevin on x (toy: ε = 0.1, λ = 0.5).
    pub langevin: LangevinConfig,
    /// GWG on y (temperature 2).
    pub gwg: GwgConfig,
    /// GWG steps to impute unobserved labels of the positive batch (observed ones clamped).
    pub impute_steps: usize,
    /// Evaluate every this many iterations (0 = only at the end).
    pub eval_every: usize,
    /// Test examples used for evaluation.
    pub eval_examples: i64,
    /// Chains per test input for sample-based prediction (10).
    pub eval_chains: i64,
    /// GWG steps per chain for sample-based prediction (200).
    pub eval_steps: usize,
    /// Write a checkpoint every this many iterations (0 = only at the end).
    pub checkpoint_every: usize,
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
            adam: AdamConfig::default(),
            ema_decay: 0.99,
            l2_energy: 0.0,
            cond_weight: 0.0,
            max_abs_energy: 1e5,
            sweeps: 20,
            buffer_size: 10_000,
            reinit_prob: 0.05,
            y_init: YInitMode::Empirical,
            langevin: LangevinConfig::from_paper(0.1, 0.5),
            gwg: GwgConfig::default(),
            impute_steps: 20,
            eval_every: 500,
            eval_examples: 2_000,
            eval_chains: 10,
            eval_steps: 200,
            checkpoint_every: 500,
            seed: 0,
        }
    }
}

impl TrainConfig {
    /// Rejects impossible values with the parameter's name.
    pub fn validate(&self) -> Result<()> {
        check_positive("lr", self.lr)?;
        if self.batch_size < 1 {
            return Err(Error::config("batch_size", self.batch_size, "must be ≥ 1"));
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
        if !(0.0..1.0).contains(&self.ema_decay) {
            return Err(Error::config(
                "ema_decay",
                self.ema_decay,
                "must be in [0, 1)",
            ));
        }
        check_non_negative("l2_energy", self.l2_energy)?;
        check_non_negative("cond_weight", self.cond_weight)?;
        check_non_negative("max_abs_energy", self.max_abs_energy)?;
        if self.eval_chains < 1 || self.eval_examples < 1 {
            return Err(Error::config(
                "eval_chains",
                self.eval_chains,
                "eval_chains and eval_examples must be ≥ 1",
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
        self.langevin.validate()?;
        self.gwg.validate()
    }
}
