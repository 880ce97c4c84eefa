//! The settings that may change between two runs of the same model.

use crate::config::{GenerationStart, NegativeLabels, RecoveryConfig, TrainConfig};
use crate::kernels::{XSampler, YSampler};
use ebm_core::{Error, Result};
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
    /// `KEY=VALUE` assignments by the configuration's own dotted keys (as
    /// [`TrainConfig::set`]), applied after the fields above; each key must be one that keeps
    /// a checkpoint usable ([`Overrides::is_resumable_key`]): the kernels' sections
    /// (`langevin.step_size`, `dmala.group_step_size`, `mala.noise_scale`, …), `recovery.*`
    /// and the top-level keys of the fields above.
    pub set: Vec<String>,
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
            set,
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
            || set.iter().any(|a| {
                let key = a.split_once('=').map_or(a.as_str(), |(k, _)| k).trim();
                !NON_TRAINING_KEYS.contains(&key) && !key.starts_with("recovery.")
            })
            || gen_sweeps.is_some()
            || gen_start.is_some()
    }

    /// Whether the dotted configuration key `key` may change between two runs of the same
    /// model (on [`Trainer::resume`](crate::Trainer::resume)): the top-level keys of this
    /// struct's fields, anything under the kernels' sections (`langevin`, `mala`, `dmala`,
    /// `gwg`) and under `recovery`.
    pub fn is_resumable_key(key: &str) -> bool {
        RESUMABLE_KEYS.contains(&key)
            || ["langevin.", "mala.", "dmala.", "gwg.", "recovery."]
                .iter()
                .any(|section| key.starts_with(section))
    }

    /// Writes every given field into `config`, then the [`Overrides::set`] assignments. An
    /// assignment that is malformed, names an unknown key or one that fixes the saved state
    /// ([`Overrides::is_resumable_key`]) is an error naming it; `config` is unchanged then.
    /// The result is not validated: call [`TrainConfig::validate`].
    pub fn apply(&self, config: &mut TrainConfig) -> Result<()> {
        for a in &self.set {
            let key = a.split_once('=').map_or(a.as_str(), |(k, _)| k).trim();
            if !Self::is_resumable_key(key) {
                return Err(Error::config(
                    "set",
                    a,
                    format!(
                        "`{key}` fixes the saved state and cannot change between runs of one \
                         model; the keys that can: {}, and langevin.*, mala.*, dmala.*, gwg.*, \
                         recovery.*",
                        RESUMABLE_KEYS.join(", ")
                    ),
                ));
            }
        }
        let mut next = config.clone();
        macro_rules! set {
            ($($f:ident),+) => { $(if let Some(v) = self.$f { next.$f = v; })+ };
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
            next.recovery = r.clone();
        }
        if let Some(n) = self.max_recoveries {
            next.recovery.max_recoveries = n;
        }
        next.set_all(&self.set)?;
        *config = next;
        Ok(())
    }
}

/// The top-level keys that may change between two runs of one model (the fields of
/// [`Overrides`] but `recovery`, `max_recoveries` and `set`).
const RESUMABLE_KEYS: &[&str] = &[
    "iterations",
    "seed",
    "lr",
    "sweeps",
    "lr_decay_from",
    "lr_decay_final",
    "label_lr_scale",
    "l2_energy",
    "clip_grad",
    "data_reinit_prob",
    "cond_weight",
    "negative_labels",
    "y_sampler",
    "predict_y_sampler",
    "x_sampler",
    "eval_every",
    "eval_examples",
    "checkpoint_every",
    "keep_checkpoints",
    "data_noise",
    "gen_sweeps",
    "gen_start",
];

/// Keys whose change leaves training as measured (with every `recovery.*` key).
const NON_TRAINING_KEYS: &[&str] = &[
    "seed",
    "eval_every",
    "eval_examples",
    "checkpoint_every",
    "keep_checkpoints",
];

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
        Overrides::default().apply(&mut c).unwrap();
        assert_eq!(c.recovery, RecoveryConfig::on());
        Overrides {
            max_recoveries: Some(7),
            ..Default::default()
        }
        .apply(&mut c)
        .unwrap();
        assert_eq!(c.recovery.max_recoveries, 7);
        assert!(c.recovery.enabled);
    }

    /// `set` changes the kernels' keys on top of the typed fields; a key that fixes the
    /// saved state, an unknown key or a bad value is an error naming it and changes nothing.
    #[test]
    fn set_assignments_are_checked() {
        let mut c = TrainConfig::default();
        Overrides {
            lr: Some(1e-4),
            set: vec!["langevin.step_size=2.5".into(), "lr=2e-4".into()],
            ..Default::default()
        }
        .apply(&mut c)
        .unwrap();
        assert_eq!((c.langevin.step_size, c.lr), (2.5, 2e-4));
        let before = c.clone();
        for (a, needle) in [
            ("batch_size=3", "batch_size"),
            ("langevin.nope=1", "nope"),
            ("lr=fast", "lr"),
        ] {
            let e = Overrides {
                iterations: Some(99),
                set: vec![a.into()],
                ..Default::default()
            }
            .apply(&mut c)
            .unwrap_err()
            .to_string();
            assert!(e.contains(needle), "{a}: {e}");
            assert_eq!(c, before, "{a}");
        }
        assert!(Overrides {
            set: vec!["recovery.max_recoveries=9".into(), "eval_every=5".into()],
            ..Default::default()
        }
        .changes_training()
        .eq(&false));
        assert!(Overrides {
            set: vec!["dmala.group_step_size=2".into()],
            ..Default::default()
        }
        .changes_training());
    }
}
