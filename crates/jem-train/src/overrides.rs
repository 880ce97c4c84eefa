//! The settings that may change between two runs of the same model.

use crate::config::{GenerationStart, NegativeLabels, RecoveryConfig, TrainConfig};
use crate::kernels::{XSampler, YSampler};
use serde::{Deserialize, Serialize};

/// Changes to a [`TrainConfig`] that keep a checkpoint usable: on a fresh run they adjust a
/// preset, on [`Trainer::resume`](crate::Trainer::resume) the checkpoint's own configuration.
///
/// Only the fields here may change on resume: the run length and seed, the optimisation and
/// divergence remedies (learning rate, sweeps, L2 penalty, gradient clipping), the objective's
/// extra term and negative phase, the kernels, and the evaluation, checkpoint and test-time
/// settings. Everything that fixes the shape of the saved state (batch size, buffer size, label
/// initialisation, Adam's constants, the energy itself) comes from the checkpoint. `None` =
/// keep.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Overrides {
    /// Total iterations (counting those done before a resume).
    pub iterations: Option<usize>,
    /// Seed of every random choice from now on (a new seed restarts a diverged run
    /// differently).
    pub seed: Option<u64>,
    /// Peak learning rate.
    pub lr: Option<f64>,
    /// MWG sweeps per iteration.
    pub sweeps: Option<usize>,
    /// Iteration from which the learning rate decays (0 = constant).
    pub lr_decay_from: Option<usize>,
    /// Final factor of the learning-rate decay.
    pub lr_decay_final: Option<f64>,
    /// Learning-rate multiplier of the label weights.
    pub label_lr_scale: Option<f64>,
    /// L2 penalty on energies.
    pub l2_energy: Option<f64>,
    /// Gradient-norm clipping (0 = off).
    pub clip_grad: Option<f64>,
    /// Probability of restarting a negative chain at a data point.
    pub data_reinit_prob: Option<f64>,
    /// Weight of the extra conditional term (0 = the paper's objective).
    pub cond_weight: Option<f64>,
    /// Negative-phase labels.
    pub negative_labels: Option<NegativeLabels>,
    /// Kernel on `y`.
    pub y_sampler: Option<YSampler>,
    /// Kernel on `y` of sample-based prediction (`Some(None)` = back to the training kernel).
    pub predict_y_sampler: Option<Option<YSampler>>,
    /// Kernel on `x`.
    pub x_sampler: Option<XSampler>,
    /// DMALA's step size α.
    pub dmala_step: Option<f64>,
    /// MALA's noise scale σ (drift σ²/2).
    pub mala_noise: Option<f64>,
    /// Langevin's drift coefficient `langevin.step_size` (`ε²/2λ`; its noise scale kept). A
    /// smaller drift keeps negative chains from being thrown off the data as the model
    /// sharpens.
    pub langevin_step: Option<f64>,
    /// The automatic-recovery policy (replaces the whole section).
    pub recovery: Option<RecoveryConfig>,
    /// Recoveries allowed before giving up (applied after `recovery`, to whichever policy the
    /// run then has).
    pub max_recoveries: Option<usize>,
    /// Evaluation interval (0 = only at the end).
    pub eval_every: Option<usize>,
    /// Test examples per evaluation (0 = all).
    pub eval_examples: Option<i64>,
    /// Checkpoint interval.
    pub checkpoint_every: Option<usize>,
    /// Sweeps of test-time chains.
    pub gen_sweeps: Option<usize>,
    /// Start of test-time chains.
    pub gen_start: Option<GenerationStart>,
}

impl Overrides {
    /// Whether these overrides change what a preset's measured figures were measured on: any
    /// field but the seed, the evaluation and checkpoint intervals, the evaluation size and
    /// the recovery policy (which acts only on a diverging run). A preset's bars
    /// ([`crate::health`]) apply only to runs for which this is false.
    pub fn changes_training(&self) -> bool {
        let Self {
            iterations,
            seed: _,
            lr,
            sweeps,
            lr_decay_from,
            lr_decay_final,
            label_lr_scale,
            l2_energy,
            clip_grad,
            data_reinit_prob,
            cond_weight,
            negative_labels,
            y_sampler,
            predict_y_sampler,
            x_sampler,
            dmala_step,
            mala_noise,
            langevin_step,
            recovery: _,
            max_recoveries: _,
            eval_every: _,
            eval_examples: _,
            checkpoint_every: _,
            gen_sweeps,
            gen_start,
        } = self;
        iterations.is_some()
            || lr.is_some()
            || sweeps.is_some()
            || lr_decay_from.is_some()
            || lr_decay_final.is_some()
            || label_lr_scale.is_some()
            || l2_energy.is_some()
            || clip_grad.is_some()
            || data_reinit_prob.is_some()
            || cond_weight.is_some()
            || negative_labels.is_some()
            || y_sampler.is_some()
            || predict_y_sampler.is_some()
            || x_sampler.is_some()
            || dmala_step.is_some()
            || mala_noise.is_some()
            || langevin_step.is_some()
            || gen_sweeps.is_some()
            || gen_start.is_some()
    }

    /// Writes every given field into `config`.
    pub fn apply(&self, config: &mut TrainConfig) {
        macro_rules! set {
            ($($f:ident),+) => { $(if let Some(v) = self.$f { config.$f = v; })+ };
        }
        set!(
            iterations,
            seed,
            lr,
            lr_decay_from,
            lr_decay_final,
            label_lr_scale,
            sweeps,
            l2_energy,
            clip_grad,
            data_reinit_prob,
            cond_weight,
            negative_labels,
            y_sampler,
            predict_y_sampler,
            x_sampler,
            eval_every,
            eval_examples,
            checkpoint_every,
            gen_sweeps,
            gen_start
        );
        if let Some(r) = &self.recovery {
            config.recovery = r.clone();
        }
        if let Some(n) = self.max_recoveries {
            config.recovery.max_recoveries = n;
        }
        if let Some(a) = self.dmala_step {
            config.dmala.step_size = a;
        }
        if let Some(a) = self.langevin_step {
            config.langevin.step_size = a;
        }
        if let Some(sigma) = self.mala_noise {
            config.mala = samplers_cont::MalaConfig::from_noise_scale(sigma);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_changes_training() {
        assert!(!Overrides::default().changes_training());
        let o = Overrides {
            seed: Some(3),
            eval_every: Some(10),
            eval_examples: Some(100),
            recovery: Some(RecoveryConfig::default()),
            max_recoveries: Some(1),
            ..Default::default()
        };
        assert!(!o.changes_training());
        for o in [
            Overrides {
                lr: Some(1e-9),
                ..Default::default()
            },
            Overrides {
                iterations: Some(20),
                ..Default::default()
            },
            Overrides {
                gen_start: Some(GenerationStart::Noise),
                ..Default::default()
            },
        ] {
            assert!(o.changes_training(), "{o:?}");
        }
    }

    /// Only the given keys change: no recovery flag keeps the run's policy, and
    /// `max_recoveries` alone changes just that field.
    #[test]
    fn recovery_changes_only_when_given() {
        let mut c = TrainConfig {
            recovery: RecoveryConfig::on(),
            ..TrainConfig::default()
        };
        Overrides::default().apply(&mut c);
        assert_eq!(c.recovery, RecoveryConfig::on());
        Overrides {
            max_recoveries: Some(7),
            ..Default::default()
        }
        .apply(&mut c);
        assert_eq!(c.recovery.max_recoveries, 7);
        assert!(c.recovery.enabled);
    }
}
