//! Whole-stack behaviour of the joint sampler and prediction: clamping, prediction against
//! the Bayes classifier, block ratio = joint ratio, and typed errors on bad input.
#![allow(clippy::unwrap_used)]

mod common;

use common::SmallMlp;
use joint_ebm::cont::{Langevin, LangevinConfig, Mala, MalaConfig};
use joint_ebm::disc::{ExactGibbs, Gwg, GwgConfig};
use joint_ebm::ebm_core::{seed_everything, Error, JointEnergy, JointState, YInit, YLayout};
use joint_ebm::mwg::{
    accuracy, oracle::demo_oracle, predict_by_energy, predict_by_sampling, EnumerationConfig,
    JointSampler, Observed, SamplePredictionConfig, SweepDiagnostics,
};
use joint_ebm::tch::{Device, Kind, Tensor};

const CPU: Device = Device::Cpu;

fn paper_sampler() -> JointSampler<Gwg, Langevin> {
    JointSampler::new(
        Gwg::new(GwgConfig::default()).unwrap(),
        Langevin::new(LangevinConfig::from_paper(0.1, 0.5)).unwrap(),
    )
}

#[test]
fn clamped_groups_and_pixels_never_change_while_the_rest_moves() {
    seed_everything(1);
    let layout = YLayout::new(vec![3, 2], 2).unwrap();
    let energy = SmallMlp::new(layout.clone(), 4, 16, true);
    let b = 64;
    let x = Tensor::randn([b, 4], (Kind::Double, CPU));
    let y = YInit::Uniform
        .sample(&layout, b, CPU, Kind::Double)
        .unwrap();
    // fix group 0 and bit 0 (variable 2); fix x elements 0 and 3.
    let fixed_y = Tensor::from_slice(&[true, false, true, false]);
    let fixed_x = Tensor::from_slice(&[true, false, false, true]);
    let state = JointState::new(&energy, &x, &y)
        .unwrap()
        .with_fixed_y(&fixed_y)
        .unwrap()
        .with_fixed_x(&fixed_x)
        .unwrap();
    let mut d = SweepDiagnostics::default();
    let out = paper_sampler().run(&energy, state, 50, &mut d).unwrap();
    let vals0 = layout.decode(&y);
    let vals1 = layout.decode(out.y());
    assert!(vals1.select(1, 0).equal(&vals0.select(1, 0)));
    assert!(vals1.select(1, 2).equal(&vals0.select(1, 2)));
    assert!(out.x().select(1, 0).equal(&x.select(1, 0)));
    assert!(out.x().select(1, 3).equal(&x.select(1, 3)));
    // the free parts moved
    assert!(
        !vals1.select(1, 1).equal(&vals0.select(1, 1))
            || !vals1.select(1, 3).equal(&vals0.select(1, 3))
    );
    assert!(!out.x().select(1, 1).equal(&x.select(1, 1)));
    // and the cached evaluation is the evaluation of the final point
    let f = energy.log_density(out.x(), out.y());
    assert!(f.allclose(out.eval().log_density(), 1e-10, 1e-10, false));
    let s = d.summary();
    assert!(s.accept_rate_y > 0.0 && s.accept_prob_x == 1.0 && s.sweeps == 50);
}

#[test]
fn energy_prediction_is_the_bayes_classifier() {
    seed_everything(2);
    let model = demo_oracle(CPU).unwrap();
    let layout = model.y_layout().clone();
    let (x, _) = model.sample(500);
    let pred = predict_by_energy(&model, &x, None, &EnumerationConfig::default()).unwrap();
    let bayes = model.class_scores(&x).argmax(1, false);
    let bayes_values = layout.decode(&model.labels_of(&bayes).unwrap());
    assert!(pred.values.equal(&bayes_values));
    // the posterior is the exact softmax of the class scores (configurations are in class order)
    let exact = model.class_scores(&x).log_softmax(1, Kind::Double);
    assert!(pred.log_posterior.allclose(&exact, 1e-10, 1e-10, false));
    // marginals sum to one
    for m in pred.marginals(&layout) {
        let s = m.sum_dim_intlist([1i64].as_slice(), false, None);
        assert!(s.allclose(&s.ones_like(), 1e-10, 1e-10, false));
    }
    // chunking does not change the result
    let small = EnumerationConfig {
        chunk_rows: 7,
        ..Default::default()
    };
    let pred2 = predict_by_energy(&model, &x, None, &small).unwrap();
    assert!(pred2.values.equal(&pred.values));
}

#[test]
fn energy_prediction_given_observed_groups_is_the_conditional_bayes_classifier() {
    seed_everything(3);
    let model = demo_oracle(CPU).unwrap();
    let layout = model.y_layout().clone();
    let (x, classes) = model.sample(300);
    let y = model.labels_of(&classes).unwrap();
    let fixed = Tensor::from_slice(&[false, true]); // group 1 observed
    let obs = Observed {
        values: &y,
        fixed: &fixed,
    };
    let pred = predict_by_energy(&model, &x, Some(obs), &EnumerationConfig::default()).unwrap();
    // Bayes: among classes whose group-1 value matches, the best score.
    let all = layout.enumerate_values(100).unwrap(); // [6, 2]
    let truth = layout.decode(&y);
    let consistent = all
        .select(1, 1)
        .unsqueeze(0)
        .eq_tensor(&truth.select(1, 1).unsqueeze(1)); // [B, 6]
    let scores = model
        .class_scores(&x)
        .masked_fill(&consistent.logical_not(), f64::NEG_INFINITY);
    let best = all.index_select(0, &scores.argmax(1, false));
    assert!(pred.values.equal(&best));
    assert!(pred.values.select(1, 1).equal(&truth.select(1, 1)));
    assert_eq!(pred.configurations.size(), vec![3, 2]);
}

#[test]
fn sample_prediction_agrees_with_bayes_on_separated_classes() {
    seed_everything(4);
    let model = demo_oracle(CPU).unwrap();
    let layout = model.y_layout().clone();
    let (x, classes) = model.sample(200);
    let truth = layout.decode(&model.labels_of(&classes).unwrap());
    let pred = predict_by_energy(&model, &x, None, &EnumerationConfig::default()).unwrap();
    let sampled = predict_by_sampling(
        &model,
        &Gwg::new(GwgConfig::default()).unwrap(),
        &x,
        None,
        &SamplePredictionConfig::default(),
    )
    .unwrap();
    let agree = accuracy(&sampled.values, &pred.values, None).unwrap();
    assert!(agree > 0.8, "sample-based agrees with the MAP on {agree}");
    assert!(accuracy(&pred.values, &truth, None).unwrap() > 0.9);
    assert_eq!(sampled.vote_fractions.len(), 2);
    // observed groups are respected by sample-based prediction
    let y = model.labels_of(&classes).unwrap();
    let fixed = Tensor::from_slice(&[true, false]);
    let s2 = predict_by_sampling(
        &model,
        &Gwg::new(GwgConfig::default()).unwrap(),
        &x,
        Some(Observed {
            values: &y,
            fixed: &fixed,
        }),
        &SamplePredictionConfig {
            steps: 20,
            ..Default::default()
        },
    )
    .unwrap();
    assert!(s2.values.select(1, 0).equal(&truth.select(1, 0)));
}

/// With one free variable, exact Gibbs prediction stops after one step (every step is an
/// independent exact draw): the chains' final labels must still follow the exact posterior
/// `p(y_free | x, observed)`, here with the other group observed. A shortcut that skipped the
/// draw would leave the uniform `q₀`, which this model's posterior is far from.
#[test]
fn one_step_exact_gibbs_prediction_follows_the_exact_posterior() {
    seed_everything(6);
    let layout = YLayout::new(vec![4, 3], 0).unwrap();
    let energy = SmallMlp::new(layout.clone(), 3, 8, true);
    let (b, chains) = (3, 4000);
    let x = Tensor::randn([b, 3], (Kind::Double, CPU)) * 2.0;
    let y = YInit::Uniform
        .sample(&layout, b, CPU, Kind::Double)
        .unwrap();
    let fixed = Tensor::from_slice(&[false, true]); // group 1 observed, group 0 free
    let obs = || Observed {
        values: &y,
        fixed: &fixed,
    };
    let exact = predict_by_energy(&energy, &x, Some(obs()), &EnumerationConfig::default())
        .unwrap()
        .marginals(&layout)
        .remove(0); // [B, 4]
    let far_from_uniform = f64::try_from((&exact - 0.25).abs().max()).unwrap();
    assert!(
        far_from_uniform > 0.15,
        "posterior too flat: {far_from_uniform}"
    );
    let sampled = predict_by_sampling(
        &energy,
        &ExactGibbs,
        &x,
        Some(obs()),
        &SamplePredictionConfig {
            chains_per_input: chains,
            steps: 200,
            ..Default::default()
        },
    )
    .unwrap();
    // binomial s.e. ≤ 0.5 / √4000 ≈ 0.008; 5 s.e. allowed
    let err = f64::try_from((&sampled.vote_fractions[0] - &exact).abs().max()).unwrap();
    assert!(
        err < 0.04,
        "vote fractions differ from the posterior by {err}"
    );
    assert!(sampled
        .values
        .select(1, 1)
        .equal(&layout.decode(&y).select(1, 1)));
}

/// docs/SAMPLER-TESTING.md item 4: for the y block, Δ log p(y | x) (closed form, a softmax) equals
/// Δ f(x, y) (the joint), which is what GWG's acceptance uses.
#[test]
fn block_ratio_equals_joint_ratio() {
    seed_everything(5);
    let model = demo_oracle(CPU).unwrap();
    let (x, c1) = model.sample(100);
    let c2 = (&c1 + 1).remainder(model.num_classes());
    let y1 = model.labels_of(&c1).unwrap();
    let y2 = model.labels_of(&c2).unwrap();
    let df = model.log_density(&x, &y2) - model.log_density(&x, &y1);
    let post = model.class_scores(&x).log_softmax(1, Kind::Double);
    let dpost = post.gather(1, &c2.unsqueeze(1), false) - post.gather(1, &c1.unsqueeze(1), false);
    assert!(df.allclose(&dpost.squeeze_dim(1), 1e-10, 1e-10, false));
}

#[test]
fn bad_input_is_a_typed_error() {
    let layout = YLayout::categorical(vec![2, 3]).unwrap();
    let energy = SmallMlp::new(layout.clone(), 2, 8, false);
    let x = Tensor::zeros([4, 2], (Kind::Double, CPU));
    let y = YInit::Uniform
        .sample(&layout, 4, CPU, Kind::Double)
        .unwrap();
    // wrong y width
    let e = JointState::new(&energy, &x, &Tensor::zeros([4, 4], (Kind::Double, CPU))).unwrap_err();
    assert!(matches!(e, Error::Shape { .. }), "{e}");
    // batch mismatch
    let e = JointState::new(&energy, &x, &y.narrow(0, 0, 3)).unwrap_err();
    assert!(matches!(e, Error::Shape { .. }), "{e}");
    // y not one-hot
    let e = JointState::new(&energy, &x, &y.ones_like()).unwrap_err();
    assert!(matches!(e, Error::InvalidLabels { .. }), "{e}");
    // NaN in x
    let xn = x.copy();
    let _ = xn.get(2).get(1).fill_(f64::NAN);
    let e = JointState::new(&energy, &xn, &y).unwrap_err();
    assert!(matches!(e, Error::NonFinite { .. }), "{e}");
    // y of another kind
    let e = JointState::new(&energy, &x, &y.to_kind(Kind::Float)).unwrap_err();
    assert!(matches!(e, Error::InvalidConfig { .. }), "{e}");
    // non-positive step sizes
    for bad in [0.0, -1.0, f64::NAN, f64::INFINITY] {
        assert!(matches!(
            Langevin::new(LangevinConfig {
                step_size: bad,
                noise_scale: 0.1
            }),
            Err(Error::InvalidConfig { .. })
        ));
        assert!(Langevin::new(LangevinConfig {
            step_size: 0.1,
            noise_scale: bad
        })
        .is_err());
        assert!(Mala::new(MalaConfig {
            step_size: bad,
            noise_scale: 0.1
        })
        .is_err());
        assert!(Gwg::new(GwgConfig { temperature: bad }).is_err());
    }
    // clamp masks of the wrong size or kind
    let s = JointState::new(&energy, &x, &y).unwrap();
    let e = s
        .with_fixed_y(&Tensor::from_slice(&[true, false, true]))
        .unwrap_err();
    assert!(matches!(e, Error::Shape { .. }), "{e}");
    let s = JointState::new(&energy, &x, &y).unwrap();
    assert!(s.with_fixed_y(&Tensor::from_slice(&[1i64, 0])).is_err());
    let s = JointState::new(&energy, &x, &y).unwrap();
    let e = s
        .with_fixed_x(&Tensor::from_slice(&[true, false, true]))
        .unwrap_err();
    assert!(matches!(e, Error::Shape { .. }), "{e}");
    // energy returning the wrong shape
    let bad_energy =
        joint_ebm::ebm_core::FnEnergy::new(layout.clone(), |x: &Tensor, _y: &Tensor| {
            x.sum_dim_intlist([1i64].as_slice(), true, None)
        });
    let e = JointState::new(&bad_energy, &x, &y).unwrap_err();
    assert!(matches!(e, Error::Shape { .. }), "{e}");
    // enumeration limit
    let e = predict_by_energy(
        &energy,
        &x,
        None,
        &EnumerationConfig {
            max_configurations: 5,
            ..Default::default()
        },
    )
    .unwrap_err();
    assert!(
        matches!(e, Error::TooManyConfigurations { count: 6, .. }),
        "{e}"
    );
    // observed mask of the wrong size
    let fixed = Tensor::from_slice(&[true]);
    let e = predict_by_energy(
        &energy,
        &x,
        Some(Observed {
            values: &y,
            fixed: &fixed,
        }),
        &EnumerationConfig::default(),
    )
    .unwrap_err();
    assert!(matches!(e, Error::Shape { .. }), "{e}");
    // zero chains
    let e = predict_by_sampling(
        &energy,
        &Gwg::default(),
        &x,
        None,
        &SamplePredictionConfig {
            chains_per_input: 0,
            ..Default::default()
        },
    )
    .unwrap_err();
    assert!(matches!(e, Error::InvalidConfig { .. }), "{e}");
    // bad y-init probabilities
    let e = joint_ebm::ebm_core::YInit::Probs(vec![vec![0.5, 0.6], vec![1.0, 0.0, 0.0]])
        .sample(&layout, 3, CPU, Kind::Double)
        .unwrap_err();
    assert!(matches!(e, Error::InvalidConfig { .. }), "{e}");
}

/// The demo as a library value: its report holds every figure beside the exact one. Energy-based
/// prediction enumerates `y`, so it is the Bayes classifier; the exact sampler's class
/// frequencies and the conditional samples' mean match the exact values (400 chains × 150
/// sweeps: sampling error of the TV about 0.04, of the mean about 0.03).
#[test]
fn the_demo_reports_its_figures_beside_the_exact_values() {
    use joint_ebm::experiments::demo::{run, Args};
    let r = run(&Args {
        device: joint_ebm::ebm_core::DeviceChoice::Cpu,
        chains: 400,
        sweeps: 150,
        seed: 0,
    })
    .unwrap();
    assert_eq!(r.energy_agrees_with_bayes, 1.0);
    assert_eq!(r.joint.len(), 2);
    assert!(r.joint[0].tv_to_exact < 0.12, "{r}");
    for i in 0..2 {
        assert!(
            (r.conditional_mean[i] - r.exact_mean[i]).abs() < 0.15,
            "{r}"
        );
    }
    assert!(r.to_string().contains("energy-based accuracy"));
}

/// The sprites' position maps light, for every bin, a pixel within one pixel of where the data
/// put the sprite's centre: the centroid of a rendered square at each of the bin's two
/// positions, read on the 32 × 32 grid the energy sees.
#[test]
fn the_position_maps_mark_where_the_data_put_the_sprite() {
    use joint_ebm::data::sprites::render_shape;
    use joint_ebm::train::{presets, MapAxis};
    let layout = presets::sprites::layout();
    let maps = presets::sprites::position_maps(&layout);
    assert_eq!(
        maps.iter().map(|m| (m.group, m.axis)).collect::<Vec<_>>(),
        vec![(2, MapAxis::Columns), (3, MapAxis::Rows)]
    );
    let (side, bins) = (32.0, layout.groups()[2] as f64);
    for m in &maps {
        for k in 0..16 {
            let stripe = side * (m.from + (m.to - m.from) * (k as f64 + 0.5) / bins);
            for class in [2 * k, 2 * k + 1] {
                let pos = class as f64 / 31.0;
                let img = render_shape(0, 1.0, 0.0, pos, pos);
                let (mut sum, mut n) = (0.0, 0.0);
                for (i, &v) in img.iter().enumerate() {
                    if v == 1 {
                        let px = if m.axis == MapAxis::Columns {
                            i % 64
                        } else {
                            i / 64
                        };
                        sum += (px as f64 + 0.5) / 2.0; // in pixels of 32
                        n += 1.0;
                    }
                }
                let centre = sum / n;
                assert!(
                    (centre - stripe).abs() <= 1.0,
                    "{:?} bin {k} class {class}: centre {centre}, stripe {stripe}",
                    m.axis
                );
            }
        }
    }
}
