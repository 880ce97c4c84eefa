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
//! use jem_train::{presets, Trainer, LabelledBatch};
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
        ..base
    }
}

/// The toy experiment (§6.1, appendix B.1, Table 1): points on 8 Gaussians × three binary
/// attributes.
pub mod toy {
    use super::*;

    /// The label layout: three binary attributes, each a 2-way categorical group (as the paper).
    pub fn layout() -> YLayout {
        YLayout::categorical(vec![2, 2, 2]).expect("a valid constant layout")
    }

    /// The paper's energy: an MLP on `concat(x, y)` (2 + 6 inputs), three ELU layers of 256.
    pub fn energy(p: &nn::Path) -> MlpEnergy {
        MlpEnergy::new(p, 2, layout(), &[256, 256, 256], Activation::Elu)
    }

    /// Table 1 of the paper, verbatim.
    pub fn paper() -> TrainConfig {
        TrainConfig {
            iterations: 5_500,
            batch_size: 1_000,
            lr: 1e-4,
            warmup_iters: 1_000,
            sweeps: 20,
            langevin: LangevinConfig::from_paper(0.1, 0.5),
            y_init: YInitMode::Empirical,
            eval_every: 500,
            eval_examples: 1_000,
            checkpoint_every: 500,
            ..TrainConfig::default()
        }
    }

    /// Reaches the paper's accuracy in a few minutes on 2 CPU cores: batch 200 instead of
    /// 1 000 and lr 1e-3 instead of 1e-4 with a 50-iteration warm-up, stabilised by an L2
    /// penalty 0.1 on energies (not in the paper; without it a measured run fell from 0.994 to
    /// 0.974 accuracy between iterations 400 and 600); 600 iterations.
    pub fn default() -> TrainConfig {
        TrainConfig {
            iterations: 600,
            batch_size: 200,
            lr: 1e-3,
            warmup_iters: 50,
            l2_energy: 0.1,
            eval_every: 200,
            checkpoint_every: 200,
            recovery: RecoveryConfig::on(),
            ..paper()
        }
    }

    /// [`tiny_from`] the default.
    pub fn tiny() -> TrainConfig {
        tiny_from(default())
    }

    /// Floors (chance is 0.5 per attribute): accuracies and conditional accuracy ≥ 0.75.
    /// Bars of the default: energy- and sample-based accuracy ≥ 0.99 (the paper's toy
    /// accuracy), conditional accuracy ≥ 0.90.
    pub fn expectations() -> Expectations {
        Expectations {
            floors: thresholds(&[
                ("energy_accuracy", 0.75),
                ("sample_accuracy", 0.75),
                ("conditional_accuracy", 0.75),
            ]),
            bars: thresholds(&[
                ("energy_accuracy", 0.99),
                ("sample_accuracy", 0.99),
                ("conditional_accuracy", 0.90),
            ]),
        }
    }
}

/// The MNIST experiment (§6.2, appendix B.2, Table 2): digits × a 10-way class.
pub mod mnist {
    use super::*;

    /// One 10-way label.
    pub fn layout() -> YLayout {
        YLayout::categorical(vec![10]).expect("a valid constant layout")
    }

    /// The paper's energy: an MLP on `concat(x, y)` (784 + 10 inputs), ELU layers 1000, 500,
    /// 500, 250, 250, 250.
    pub fn energy(p: &nn::Path) -> MlpEnergy {
        MlpEnergy::new(
            p,
            784,
            layout(),
            &[1000, 500, 500, 250, 250, 250],
            Activation::Elu,
        )
    }

    /// The energy of the [`default`] preset, not the paper's: the dSprites CNN
    /// ([`CnnEnergy::with_side`], 28 × 28 inputs, 144 features) followed by the MLP head on
    /// `concat(h, y)`.
    pub fn cnn_energy(p: &nn::Path) -> CnnEnergy {
        CnnEnergy::with_side(p, layout(), 28)
    }

    /// Not the paper's: JEM's label readout ([`LogitEnergy`]: the CNN trunk, an MLP to ten
    /// logits, `f(x, y) = logit_y(x)`).
    pub fn logit_energy(p: &nn::Path) -> LogitEnergy {
        LogitEnergy::with_side(p, layout(), 28)
    }

    /// Table 2 of the paper, verbatim.
    pub fn paper() -> TrainConfig {
        TrainConfig {
            iterations: 110_000,
            batch_size: 100,
            lr: 1e-4,
            warmup_iters: 10_000,
            sweeps: 40,
            langevin: LangevinConfig::from_paper(3e-3, 1.5e-6),
            y_init: YInitMode::Empirical,
            eval_every: 5_000,
            eval_examples: 0,
            checkpoint_every: 5_000,
            ..TrainConfig::default()
        }
    }

    /// 12–15 minutes of training on 2 CPU cores (743, 885 and 884 s for seeds 0, 1 and 2, each
    /// beside one or two other runs), measured with [`cnn_energy`] — **not the paper's MLP**:
    /// the paper's own dSprites CNN on 28 × 28 digits with the label read at its MLP head (the
    /// paper's MLP on this budget makes speckled digits and meets no bar of this project; see
    /// the README). With it, energy-based accuracy 0.962–0.978, sample-based 0.962–0.978 and
    /// 0.955–0.958 of conditional samples classified as the clamped digit by an independent
    /// classifier, on the three seeds. The paper's objective (joint log-likelihood, no extra
    /// conditional term) with its negative phase Rao-Blackwellised over the 10 classes (same
    /// objective, lower variance; not in the paper). Departs from Table 2 in the optimisation
    /// and the label kernel: the label weights train with 30 × the learning rate
    /// (`label_lr_scale`: the label coupling `p(y | x)` otherwise leaves its chance-level
    /// plateau only after ≈ 1 000 iterations), exact Gibbs on the label instead of GWG (GWG's
    /// acceptance falls to 0.16–0.20 here), 10 sweeps instead of 40, 1 500 iterations instead
    /// of 110 000, lr 1e-3 with a 50-iteration warm-up; test-time chains start from replay
    /// states with matching labels (as the authors' code). Langevin settings are the paper's.
    pub fn default() -> TrainConfig {
        TrainConfig {
            iterations: 1_500,
            label_lr_scale: 30.0,
            y_sampler: YSampler::Gibbs,
            gen_start: GenerationStart::Buffer,
            lr: 1e-3,
            warmup_iters: 50,
            sweeps: 10,
            negative_labels: NegativeLabels::Expected,
            eval_every: 0,
            checkpoint_every: 250,
            recovery: RecoveryConfig::on(),
            ..paper()
        }
    }

    /// [`tiny_from`] the default.
    pub fn tiny() -> TrainConfig {
        tiny_from(default())
    }

    /// Floors (chance is 0.1): accuracies and conditional accuracy ≥ 0.5. Bars of the
    /// default: energy-based accuracy ≥ 0.95, sample-based ≥ 0.93, conditional accuracy (the
    /// judge reads the clamped class) ≥ 0.80.
    pub fn expectations() -> Expectations {
        Expectations {
            floors: thresholds(&[
                ("energy_accuracy", 0.5),
                ("sample_accuracy", 0.5),
                ("conditional_accuracy", 0.5),
            ]),
            bars: thresholds(&[
                ("energy_accuracy", 0.95),
                ("sample_accuracy", 0.93),
                ("conditional_accuracy", 0.80),
            ]),
        }
    }
}

/// The dSprites experiment (§6.3, appendix B.3, Table 3): 32 × 32 ellipses × their binned
/// (x, y) position (two 16-way labels).
pub mod dsprites {
    use super::*;

    /// Two 16-way labels: horizontal and vertical position bins.
    pub fn layout() -> YLayout {
        YLayout::categorical(vec![16, 16]).expect("a valid constant layout")
    }

    /// The paper's energy: a SiLU CNN to 256 features, then an MLP on `concat(h, y)`.
    pub fn energy(p: &nn::Path) -> CnnEnergy {
        CnnEnergy::new(p, layout())
    }

    /// Not the paper's: JEM's label readout ([`LogitEnergy`]: the same CNN, an MLP to 32
    /// logits, `f(x, y) = logit_x(x)[y_x] + logit_y(x)[y_y]`).
    pub fn logit_energy(p: &nn::Path) -> LogitEnergy {
        LogitEnergy::with_side(p, layout(), 32)
    }

    /// Table 3 of the paper, verbatim.
    pub fn paper() -> TrainConfig {
        TrainConfig {
            iterations: 180_000,
            batch_size: 100,
            lr: 1e-5,
            warmup_iters: 10_000,
            sweeps: 40,
            langevin: LangevinConfig::from_paper(3e-3, 4.5e-7),
            y_init: YInitMode::Uniform,
            eval_every: 5_000,
            eval_examples: 0,
            checkpoint_every: 5_000,
            ..TrainConfig::default()
        }
    }

    /// The paper's objective (α = 0) meeting every dSprites bar of this project in about
    /// 13.5 minutes of training on 2 CPU cores (0.57 s per iteration beside another run,
    /// measured), on the five seeds measured (see the README). Measured with
    /// [`logit_energy`] — JEM's label readout on the paper's CNN, **not the paper's
    /// architecture** (the paper's `concat(h, y)` head with this objective: one sample in
    /// five is not a valid sprite).
    /// Other departures from Table 3: the learning rate decays linearly to 0.1 × over the
    /// second half (`lr_decay_from`; with a constant rate the samples' validity swings by up
    /// to 0.35 between evaluations 100 iterations apart); exact Gibbs on the labels in every
    /// chain instead of GWG (GWG's acceptance falls to a few percent on the sharp 16 × 16
    /// label posterior); the negative phase Rao-Blackwellised over the labels (same
    /// objective, lower variance); test-time chains started from replay states with matching
    /// labels (as the authors' code) and run for 50 sweeps instead of 200 (longer
    /// low-temperature chains drift into ragged, invalid sprites); 1 400 iterations instead of
    /// 180 000, lr 1e-3 with a 50-iteration warm-up, 10 sweeps instead of 40, an L2 penalty
    /// 0.01 on energies; the gradient's global norm clipped at 1 (`clip_grad`, not in the
    /// paper): without it two of twelve seeds tried (17 and 103) collapsed between iterations
    /// 150 and 210 — the energy gap ran from below 1 to its L2 bound within about 30
    /// iterations, the negative chains no longer reaching the data — and neither a smaller
    /// nor a larger Langevin drift prevented it on seed 17 (drift 5, 20 and 40 all
    /// collapsed by iteration 160), while clipping did. Langevin settings are the paper's.
    pub fn default() -> TrainConfig {
        TrainConfig {
            iterations: 1_400,
            lr: 1e-3,
            lr_decay_from: 700,
            lr_decay_final: 0.1,
            y_sampler: YSampler::Gibbs,
            gen_start: GenerationStart::Buffer,
            gen_sweeps: 50,
            clip_grad: 1.0,
            ..paper_objective()
        }
    }

    /// The previous default, measured with the paper's [`energy`]: about 14.5 minutes
    /// of training on 2 CPU cores (79 s per 100 iterations), meeting every dSprites bar on
    /// three seeds. **Not the paper's objective**: the joint log-likelihood plus an extra
    /// conditional term of weight 1 (`cond_weight`; the conditional `log p(y | x)` weighs 2 in
    /// all). Label weights trained with 3 × the learning rate (`label_lr_scale`; a slow seed
    /// otherwise leaves the chance-level plateau of `p(y | x)` too late), a constant learning
    /// rate, 1 100 iterations; otherwise as [`default`].
    pub fn conditional() -> TrainConfig {
        TrainConfig {
            iterations: 1_100,
            lr_decay_from: 0,
            lr_decay_final: TrainConfig::default().lr_decay_final,
            cond_weight: 1.0,
            label_lr_scale: 3.0,
            // Measured without the default's gradient clipping.
            clip_grad: 0.0,
            ..default()
        }
    }

    /// The paper's objective (α = 0) plus an L2 penalty 0.01 on energies (not in the paper),
    /// on a budget like the default's: an earlier default, measured with the paper's
    /// [`energy`]. Joint log-likelihood with the negative phase Rao-Blackwellised over the
    /// labels (same objective, lower variance; not in the paper); 1 200 iterations, lr 3e-4
    /// with a 50-iteration warm-up, 10 sweeps; GWG + Langevin; test chains from noise. Measured: energy-based 0.83, sample-based 0.39 (see the README).
    pub fn paper_objective() -> TrainConfig {
        TrainConfig {
            iterations: 1_200,
            lr: 3e-4,
            warmup_iters: 50,
            sweeps: 10,
            l2_energy: 0.01,
            negative_labels: NegativeLabels::Expected,
            eval_every: 0,
            checkpoint_every: 200,
            recovery: RecoveryConfig::on(),
            ..paper()
        }
    }

    /// [`tiny_from`] the default.
    pub fn tiny() -> TrainConfig {
        tiny_from(default())
    }

    /// Floors (a bin within ±1 by chance: about 0.19): accuracies, conditional accuracy on
    /// each coordinate and valid sprites ≥ 0.5. Bars of the default: energy-based accuracy
    /// ≥ 0.95, sample-based ≥ 0.89, conditional accuracy ≥ 0.90 on both coordinates, valid
    /// sprites ≥ 0.90.
    pub fn expectations() -> Expectations {
        let metrics = [
            "energy_accuracy",
            "sample_accuracy",
            "conditional_accuracy_x",
            "conditional_accuracy_y",
            "sprite_valid",
        ];
        Expectations {
            floors: metrics.iter().map(|m| Threshold::new(m, 0.5)).collect(),
            bars: thresholds(&[
                (metrics[0], 0.95),
                (metrics[1], 0.89),
                (metrics[2], 0.90),
                (metrics[3], 0.90),
                (metrics[4], 0.90),
            ]),
        }
    }
}

/// Structured sprites (not an experiment of the paper; the case it was written for): all three
/// dSprites shapes, `y` = four factor groups (shape 3, scale 6, position bins 16 × 16) and the
/// sprite's 16 × 16 mask as 256 bits — `3 · 6 · 256 · 2²⁵⁶` configurations, so nothing can be
/// enumerated: sampled negatives, DMALA on `y`, sample-based prediction, generation from noise.
pub mod sprites {
    use super::*;
    use crate::kernels::XSampler;
    use crate::mask_energy::{FactorHead, MaskCnnEnergy};

    /// Shape, scale, position x bin, position y bin, then 256 mask bits.
    pub fn layout() -> YLayout {
        YLayout::new(vec![3, 6, 16, 16], 256).expect("a valid constant layout")
    }

    /// The energy: the mask as an image channel beside `x` in a CNN, the factors read out by
    /// `head` ([`MaskCnnEnergy`]); labels interact.
    pub fn energy(p: &nn::Path, layout: YLayout, head: FactorHead) -> Result<MaskCnnEnergy> {
        MaskCnnEnergy::new(p, layout, 32, head)
    }

    /// The paper's method with its dSprites settings (Table 3: lr 1e-5, 40 sweeps, 180 000
    /// iterations, GWG on `y`, Langevin `ε = 3e-3`, `λ = 4.5e-7`), sampled negatives, on this
    /// data: days of CPU time; for reference, not measured.
    pub fn paper() -> TrainConfig {
        super::dsprites::paper()
    }

    /// The paper's estimator (sampled negatives, the joint log-likelihood) with DMALA on the
    /// labels — every factor and mask bit may change per step, MH-corrected (the paper's GWG
    /// changes one of 260 variables per step) — and the paper's dSprites Langevin on `x`;
    /// test-time chains from noise for 200 sweeps (the paper's protocol). Departures from
    /// Table 3, for a budget of 30 minutes on 2 CPU cores: DMALA instead of GWG, lr 1e-3 with a
    /// 50-iteration warm-up decayed to 0.1 × over the second half, 10 sweeps, batch 64, an L2
    /// penalty 0.01 on energies and the gradient norm clipped at 1 (as the dSprites default).
    pub fn default() -> TrainConfig {
        TrainConfig {
            iterations: 1_200,
            batch_size: 64,
            lr: 1e-3,
            warmup_iters: 50,
            lr_decay_from: 600,
            lr_decay_final: 0.1,
            sweeps: 10,
            y_sampler: YSampler::Dmala,
            x_sampler: XSampler::Langevin,
            langevin: LangevinConfig::from_paper(3e-3, 4.5e-7),
            negative_labels: NegativeLabels::Sampled,
            y_init: YInitMode::Empirical,
            l2_energy: 0.01,
            clip_grad: 1.0,
            gen_start: GenerationStart::Noise,
            gen_sweeps: 200,
            eval_every: 300,
            eval_examples: 100,
            eval_chains: 10,
            eval_steps: 50,
            checkpoint_every: 100,
            recovery: RecoveryConfig::on(),
            ..TrainConfig::default()
        }
    }

    /// [`tiny_from`] the default.
    pub fn tiny() -> TrainConfig {
        tiny_from(default())
    }

    /// Floors (chance: shape 1/3, a bin within ±1 about 0.19, an empty mask's IoU 0): shape
    /// accuracy and valid sprites ≥ 0.5, mask IoU ≥ 0.3. Bars of the default (issue's floors):
    /// prediction — mask IoU ≥ 0.85, shape ≥ 0.90, position within ±1 ≥ 0.95 on both axes,
    /// scale within ±1 ≥ 0.90; from noise — conditional shape ≥ 0.80, position within ±1
    /// ≥ 0.85, mask IoU ≥ 0.70, valid ≥ 0.90; zero-shot shape and position from noise ≥ 0.70.
    pub fn expectations() -> Expectations {
        Expectations {
            floors: thresholds(&[
                ("shape_accuracy", 0.5),
                ("mask_iou", 0.3),
                ("sprite_valid_noise", 0.5),
            ]),
            bars: thresholds(&[
                ("mask_iou", 0.85),
                ("shape_accuracy", 0.90),
                ("position_within_one_x", 0.95),
                ("position_within_one_y", 0.95),
                ("scale_within_one", 0.90),
                ("cond_shape_accuracy_noise", 0.80),
                ("cond_position_within_one_noise", 0.85),
                ("cond_mask_iou_noise", 0.70),
                ("sprite_valid_noise", 0.90),
                ("zero_shot_cond_factors_shape_accuracy_noise", 0.70),
                ("zero_shot_cond_position_within_one_noise", 0.70),
            ]),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The floors apply to every preset but `tiny`, the bars to `default` only, and every
    /// default preset has bars; the seed-17 collapse of the dSprites default
    /// (0.145 / 0.104 / 0.001 / 0.003 / 0.014) fails its floors.
    #[test]
    fn expectations_per_preset() {
        for e in EXPERIMENTS {
            let d = expectations(e, "default").unwrap();
            assert!(!d.floors.is_empty() && !d.bars.is_empty(), "{e}");
            for f in &d.floors {
                let bar = d.bars.iter().find(|b| b.metric == f.metric).unwrap();
                assert!(f.min < bar.min, "{e}: floor {} above its bar", f.metric);
            }
            let p = expectations(e, "paper").unwrap();
            assert!(!p.floors.is_empty() && p.bars.is_empty(), "{e}");
            assert_eq!(expectations(e, "tiny").unwrap(), Expectations::default());
        }
        assert!(expectations("toy", "nope").is_err());
        let collapsed: std::collections::BTreeMap<String, f64> = [
            ("energy_accuracy", 0.145),
            ("sample_accuracy", 0.104),
            ("conditional_accuracy_x", 0.001),
            ("conditional_accuracy_y", 0.003),
            ("sprite_valid", 0.014),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), *v))
        .collect();
        let r = dsprites::expectations().check(&collapsed, true);
        assert!(!r.healthy && r.failures.len() == 10, "{r:?}");
    }

    #[test]
    fn every_preset_is_valid_and_found_by_name() {
        for e in EXPERIMENTS {
            for p in PRESETS {
                let c = lookup(e, p).unwrap();
                c.validate().unwrap();
            }
        }
        assert_eq!(lookup("dsprites", "paper").unwrap().lr, 1e-5);
        for p in ["conditional", "paper-objective"] {
            lookup("dsprites", p).unwrap().validate().unwrap();
        }
        assert!(matches!(
            lookup("cifar", "default"),
            Err(Error::InvalidConfig { .. })
        ));
        let e = lookup("toy", "fast").unwrap_err().to_string();
        assert!(e.contains("default, paper, tiny"), "{e}");
    }

    /// The dSprites default: the joint log-likelihood with no extra conditional term, plus
    /// an L2 penalty on energies and gradient clipping that its objective string names as not
    /// the paper's; the paper's Langevin settings.
    #[test]
    fn the_dsprites_default_names_its_departures_from_the_paper() {
        let d = dsprites::default();
        assert_eq!((d.cond_weight, d.label_lr_scale), (0.0, 1.0));
        assert_eq!(d.l2_energy, 0.01);
        let objective = d.objective_summary();
        assert!(
            objective.contains("L2 penalty 0.01 on energies (not in the paper)")
                && !objective.contains("the paper's objective"),
            "{objective}"
        );
        assert!(objective.contains("gradient norm clipped at 1 (not in the paper)"));
        assert_eq!(d.langevin, dsprites::paper().langevin);
        assert!(crate::lr_decays(d.lr_decay_from, d.iterations));
        // The previous default keeps its extra conditional term and a constant rate.
        let c = dsprites::conditional();
        assert_eq!(
            (c.cond_weight, c.label_lr_scale, c.clip_grad),
            (1.0, 3.0, 0.0)
        );
        assert!(!crate::lr_decays(c.lr_decay_from, c.iterations));
        assert_eq!(c.lr_decay_final, TrainConfig::default().lr_decay_final);
    }

    #[test]
    fn the_paper_presets_are_the_paper_tables() {
        let t = toy::paper();
        assert_eq!(
            (t.iterations, t.batch_size, t.lr, t.sweeps),
            (5_500, 1_000, 1e-4, 20)
        );
        let m = mnist::paper();
        assert_eq!(
            (m.iterations, m.batch_size, m.lr, m.sweeps),
            (110_000, 100, 1e-4, 40)
        );
        let d = dsprites::paper();
        assert_eq!(
            (d.iterations, d.batch_size, d.lr, d.sweeps),
            (180_000, 100, 1e-5, 40)
        );
        for c in [t, m, d] {
            assert_eq!(c.cond_weight, 0.0);
            assert_eq!(c.l2_energy, 0.0);
            assert_eq!(c.negative_labels, NegativeLabels::Sampled);
        }
    }
}
