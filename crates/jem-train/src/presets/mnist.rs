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
