//! A trained run reloaded as a [`JointModel`] without its trainer: the same `f` as the
//! trainer's EMA model, prediction and clamped generation from it, and errors that name what
//! is wrong (another network, bad labels, a network whose output has the wrong shape).
#![allow(clippy::unwrap_used)]

use ebm_core::{Error, JointEnergy, YLayout};
use jem_train::{
    Activation, Batch, GenerationStart, JointModel, MlpEnergy, Overrides, Silent, TrainConfig,
    TrainOptions, Trainer,
};
use mwg::SamplePredictionConfig;
use tch::{nn, Device, Kind, Tensor};

fn layout() -> YLayout {
    YLayout::categorical(vec![2, 3]).unwrap()
}

fn build(p: &nn::Path) -> MlpEnergy {
    MlpEnergy::new(p, 2, layout(), &[16, 16], Activation::Elu)
}

/// `n` points whose labels are drawn uniformly.
fn data(n: i64) -> (Tensor, Tensor) {
    let values = Tensor::cat(
        &[
            Tensor::randint(2, [n, 1], (Kind::Int64, Device::Cpu)),
            Tensor::randint(3, [n, 1], (Kind::Int64, Device::Cpu)),
        ],
        1,
    );
    let y = layout().encode(&values, Kind::Float).unwrap();
    let x = values.to_kind(Kind::Float) + Tensor::randn([n, 2], (Kind::Float, Device::Cpu)) * 0.3;
    (x, y)
}

struct Source(YLayout);

impl ebm_core::DataSource for Source {
    fn y_layout(&self) -> &YLayout {
        &self.0
    }
    fn x_shape(&self) -> Vec<i64> {
        vec![2]
    }
    fn next_batch(&mut self, n: i64, _device: Device) -> ebm_core::Result<ebm_core::Batch> {
        let (x, y) = data(n);
        Ok(ebm_core::Batch {
            x,
            y,
            observed: None,
        })
    }
    fn test_set(&mut self, max: i64, device: Device) -> ebm_core::Result<ebm_core::Batch> {
        self.next_batch(max.min(16), device)
    }
}

/// A network of the right layout whose output is `[B, 1]` instead of `[B]`.
struct WrongShape(MlpEnergy);

impl JointEnergy for WrongShape {
    fn y_layout(&self) -> &YLayout {
        self.0.y_layout()
    }
    fn features(&self, x: &Tensor) -> Option<Tensor> {
        self.0.features(x)
    }
    fn log_density_from_features(&self, h: &Tensor, y: &Tensor) -> Tensor {
        self.0.log_density_from_features(h, y).unsqueeze(1)
    }
}

#[test]
fn a_saved_run_loads_predicts_and_generates_without_its_trainer() {
    tch::manual_seed(1);
    let dir = tempfile::tempdir().unwrap();
    let (x, y) = data(16);
    let config = TrainConfig {
        iterations: 4,
        batch_size: 16,
        warmup_iters: 1,
        sweeps: 2,
        buffer_size: 64,
        eval_every: 0,
        eval_chains: 2,
        eval_steps: 2,
        checkpoint_every: 2,
        ..TrainConfig::default()
    };
    let mut trainer = Trainer::new(config, Device::Cpu, build, &Batch::labelled(&x, &y)).unwrap();
    let options = TrainOptions {
        checkpoint_dir: Some(&dir.path().join("checkpoints")),
        ..Default::default()
    };
    trainer
        .train(&mut Source(layout()), &options, &mut Silent)
        .unwrap();

    // The run folder loads; f is the trainer's EMA model's, to the bit.
    let model = JointModel::load(dir.path(), Device::Cpu, build).unwrap();
    assert_eq!(model.iteration(), 4);
    assert_eq!(model.layout(), &layout());
    let (xt, yt) = data(8);
    let f = model.log_density(&xt, &yt).unwrap();
    let want = tch::no_grad(|| trainer.ema_model().log_density(&xt, &yt));
    assert!(f.equal(&want), "{f} vs {want}");
    // The trainer's own JointModel is the same model: same f, iteration and buffer, and no
    // checkpoint of its own (the loaded one names the checkpoint it came from).
    let own = trainer.joint_model();
    assert!(own.log_density(&xt, &yt).unwrap().equal(&f));
    assert_eq!(own.iteration(), trainer.iteration());
    assert!(own.buffer().x.equal(&model.buffer().x));
    assert!(own.checkpoint().is_none());
    assert!(model.checkpoint().unwrap().starts_with(dir.path()));

    // Energy-based prediction: a valid labelling and a normalised posterior over the 6
    // configurations; sample-based prediction from the run's kernel.
    let p = model.predict_by_energy(&xt).unwrap();
    assert_eq!(p.values.size(), vec![8, 2]);
    let total = p
        .log_posterior
        .exp()
        .sum_dim_intlist([1i64].as_slice(), false, Kind::Double);
    assert!(total.allclose(&total.ones_like(), 1e-5, 1e-5, false));
    let s = model
        .predict_by_sampling(
            &xt,
            &SamplePredictionConfig {
                chains_per_input: 2,
                steps: 3,
                ..Default::default()
            },
        )
        .unwrap();
    assert_eq!(s.values.size(), vec![8, 2]);

    // Generation with group 1 clamped to 2, from noise and from the buffer.
    for start in [GenerationStart::Noise, GenerationStart::Buffer] {
        let (gx, labels) = model.generate(5, &[(1, &[2])], None, start, 3).unwrap();
        assert_eq!(gx.size(), vec![5, 2]);
        assert!(
            labels.select(1, 1).eq(2).all().int64_value(&[]) == 1,
            "{labels}"
        );
    }

    // Test-time settings change on the loaded model; one that fixes the saved state, or an
    // invalid value, is an error that leaves the model as it was.
    let mut model = model;
    let before = model.config().clone();
    let bad_key = Overrides {
        set: vec!["batch_size=8".into()],
        ..Default::default()
    };
    assert!(model.apply_overrides(&bad_key).is_err());
    let bad_value = Overrides {
        set: vec!["langevin.noise_scale=-1".into()],
        ..Default::default()
    };
    assert!(model.apply_overrides(&bad_value).is_err());
    assert_eq!(model.config(), &before);
    let hotter = Overrides {
        set: vec!["langevin.noise_scale=0.02".into()],
        gen_sweeps: Some(7),
        ..Default::default()
    };
    model.apply_overrides(&hotter).unwrap();
    assert_eq!(model.config().gen_sweeps, 7);
    assert_ne!(model.config(), &before);
    assert!(model.log_density(&xt, &yt).unwrap().equal(&f));

    // Another network (a 4-way group instead of 3): an error naming the parameters' file.
    let other = |p: &nn::Path| {
        MlpEnergy::new(
            p,
            2,
            YLayout::categorical(vec![2, 4]).unwrap(),
            &[16, 16],
            Activation::Elu,
        )
    };
    let err = JointModel::load(dir.path(), Device::Cpu, other)
        .err()
        .unwrap();
    assert!(err.to_string().contains("ema.safetensors"), "{err}");
    // Labels that are not one-hot, and a network with a [B, 1] output: errors, not panics.
    let bad = Tensor::ones([8, 5], (Kind::Float, Device::Cpu));
    assert!(matches!(
        model.log_density(&xt, &bad),
        Err(Error::InvalidLabels { .. } | Error::Shape { .. })
    ));
    let wrong =
        JointModel::load(dir.path(), Device::Cpu, |p: &nn::Path| WrongShape(build(p))).unwrap();
    let err = wrong.log_density(&xt, &yt).err().unwrap();
    assert!(matches!(err, Error::Shape { .. }), "{err}");
    assert!(err.to_string().contains("[B]"), "{err}");
}
