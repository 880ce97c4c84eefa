//! A label space too large to enumerate (300 bits, 2³⁰⁰ configurations): every feature that
//! enumerates `y` refuses at once with [`Error::TooManyConfigurations`] naming the count and
//! the limit — the Rao-Blackwellised negative phase, energy-based prediction and accuracy, and
//! the posterior-resampled generation start — while the paper's estimator (sampled negatives,
//! GWG or DMALA on `y`), sample-based prediction and generation from noise or the buffer run.
#![allow(clippy::unwrap_used)]

use ebm_core::{Error, YLayout};
use jem_train::{
    Activation, Batch, GenerationStart, MlpEnergy, NegativeLabels, TrainConfig, Trainer, YSampler,
};
use mwg::{predict_by_energy, EnumerationConfig};
use std::time::Instant;
use tch::{nn, Device, Kind, Tensor};

const BITS: usize = 300;

fn layout() -> YLayout {
    YLayout::binary(BITS).unwrap()
}

fn build(p: &nn::Path) -> MlpEnergy {
    MlpEnergy::new(p, 2, layout(), &[16], Activation::Elu)
}

fn config(
    negative_labels: NegativeLabels,
    y_sampler: YSampler,
    gen_start: GenerationStart,
) -> TrainConfig {
    TrainConfig {
        iterations: 2,
        batch_size: 8,
        warmup_iters: 1,
        sweeps: 2,
        buffer_size: 32,
        eval_every: 0,
        eval_chains: 2,
        eval_steps: 2,
        gen_sweeps: 2,
        negative_labels,
        y_sampler,
        gen_start,
        ..TrainConfig::default()
    }
}

fn data(n: i64) -> (Tensor, Tensor) {
    let x = Tensor::randn([n, 2], (Kind::Float, Device::Cpu));
    let y = Tensor::rand([n, BITS as i64], (Kind::Float, Device::Cpu))
        .gt(0.5)
        .to_kind(Kind::Float);
    (x, y)
}

fn trainer(
    negative_labels: NegativeLabels,
    y_sampler: YSampler,
    gen_start: GenerationStart,
) -> ebm_core::Result<Trainer<MlpEnergy>> {
    let (x, y) = data(8);
    Trainer::new(
        config(negative_labels, y_sampler, gen_start),
        Device::Cpu,
        build,
        &Batch::labelled(&x, &y),
    )
}

/// Panics unless `r` is the refusal to enumerate the 2^300 configurations.
fn assert_refused<T>(r: ebm_core::Result<T>, what: &str) {
    match r {
        Err(e @ Error::TooManyConfigurations { count, limit, .. }) => {
            // 2^300 does not fit: the count saturates at u128::MAX (≥ 2^128).
            assert_eq!(count, u128::MAX, "{what}");
            assert!(limit < 1 << 20, "{what}: limit {limit}");
            let msg = e.to_string();
            assert!(msg.contains(&limit.to_string()), "{what}: {msg}");
        }
        Err(e) => panic!("{what}: another error: {e}"),
        Ok(_) => panic!("{what}: enumerated 2^{BITS} configurations"),
    }
}

#[test]
fn enumeration_refuses_and_the_papers_estimator_runs() {
    tch::manual_seed(0);
    let started = Instant::now();
    // The Rao-Blackwellised negative phase enumerates y: refused when the trainer is built.
    assert_refused(
        trainer(
            NegativeLabels::Expected,
            YSampler::Gwg,
            GenerationStart::Noise,
        ),
        "Rao-Blackwellised negatives",
    );
    for sampler in [YSampler::Gwg, YSampler::Dmala] {
        let mut t = trainer(NegativeLabels::Sampled, sampler, GenerationStart::Noise).unwrap();
        let (x, y) = data(8);
        let batch = Batch::labelled(&x, &y);
        let report = t.step(&batch).unwrap();
        assert!(report.loss.is_finite(), "{sampler:?}: {report:?}");
        // Energy-based prediction and accuracy enumerate: refused.
        assert_refused(
            predict_by_energy(t.ema_model(), &x, None, &EnumerationConfig::default()),
            "predict_by_energy",
        );
        assert_refused(t.evaluate(&x, &y, true, false), "energy-based accuracy");
        // Sample-based prediction does not.
        let m = t.evaluate(&x, &y, false, true).unwrap();
        let acc = m.sample_accuracy.unwrap();
        assert!((0.0..=1.0).contains(&acc), "{acc}");
        // Generation from noise and from the buffer runs; from the posterior-resampled buffer
        // (weights p(clamped labels | x) by enumeration) it is refused when labels are clamped.
        for start in [GenerationStart::Noise, GenerationStart::Buffer] {
            let g = trainer(NegativeLabels::Sampled, sampler, start).unwrap();
            let (xs, labels) = g.generate(4, &[(0, &[1])], None).unwrap();
            assert_eq!(xs.size(), vec![4, 2]);
            assert_eq!(labels.size(), vec![4, BITS as i64]);
        }
        let g = trainer(NegativeLabels::Sampled, sampler, GenerationStart::Posterior).unwrap();
        assert_refused(g.generate(4, &[(0, &[1])], None), "posterior start");
    }
    // Refusals are immediate: the whole test (two tiny trainers per kernel) takes seconds.
    assert!(started.elapsed().as_secs() < 120, "{:?}", started.elapsed());
}
