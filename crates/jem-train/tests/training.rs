//! Whole-trainer tests: exact resume on the CPU, divergence detection with the last good
//! checkpoint kept, partial labels, frozen weights while sampling, checkpoint round trip.
#![allow(clippy::unwrap_used)]

use ebm_core::{Batch, DataSource, Error, JointEnergy, YLayout};
use jem_train::{
    group_log_likelihood_from_gradient, Activation, GenerationStart, MlpEnergy, NegativeLabels,
    Overrides, Silent, TrainConfig, TrainOptions, Trainer,
};
use std::cell::Cell;
use std::rc::Rc;
use tch::{nn, Device, Kind, Tensor};

/// torch's generator is process-global and tests run on parallel threads: tests that depend on
/// the random stream hold this lock.
static RNG: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn rng_lock() -> std::sync::MutexGuard<'static, ()> {
    RNG.lock().unwrap_or_else(|e| e.into_inner())
}

fn tiny_config() -> TrainConfig {
    TrainConfig {
        iterations: 6,
        batch_size: 16,
        lr: 1e-3,
        warmup_iters: 2,
        sweeps: 3,
        buffer_size: 64,
        impute_steps: 2,
        eval_every: 0,
        eval_examples: 8,
        eval_chains: 2,
        eval_steps: 3,
        checkpoint_every: 3,
        seed: 7,
        ..TrainConfig::default()
    }
}

fn layout() -> YLayout {
    YLayout::categorical(vec![2, 3]).unwrap()
}

/// Deterministic data for iteration `it`: x = mean of its class + noise, labels from a counter.
fn batch(it: usize, n: i64, observed: bool) -> (Tensor, Tensor, Option<Tensor>) {
    tch::manual_seed(1000 + it as i64);
    draw(n, observed)
}

/// Like [`batch`], from torch's generator as it is.
fn draw(n: i64, observed: bool) -> (Tensor, Tensor, Option<Tensor>) {
    let l = layout();
    let values = Tensor::stack(
        &[
            Tensor::randint(2, [n], (Kind::Int64, Device::Cpu)),
            Tensor::randint(3, [n], (Kind::Int64, Device::Cpu)),
        ],
        1,
    );
    let y = l.encode(&values, Kind::Float).unwrap();
    let x = values.to_kind(Kind::Float) + Tensor::randn([n, 2], (Kind::Float, Device::Cpu)) * 0.3;
    let obs = observed.then(|| Tensor::rand([n, 2], (Kind::Float, Device::Cpu)).gt(0.4));
    (x, y, obs)
}

/// The data of [`batch`] as a [`DataSource`]: draws from torch's generator, which the trainer
/// seeds per iteration (so resumed runs see the same batches). `hook` runs before the `k`-th
/// batch (0-based) with `k`.
struct Source {
    observed: bool,
    calls: usize,
    hook: Box<dyn FnMut(usize)>,
    layout: YLayout,
}

impl Source {
    fn new(observed: bool) -> Self {
        Self {
            observed,
            calls: 0,
            hook: Box::new(|_| {}),
            layout: layout(),
        }
    }
}

impl DataSource for Source {
    fn y_layout(&self) -> &YLayout {
        &self.layout
    }
    fn x_shape(&self) -> Vec<i64> {
        vec![2]
    }
    fn next_batch(&mut self, n: i64, _device: Device) -> ebm_core::Result<Batch> {
        (self.hook)(self.calls);
        self.calls += 1;
        let (x, y, observed) = draw(n, self.observed);
        Ok(Batch { x, y, observed })
    }
    fn test_set(&mut self, max: i64, _device: Device) -> ebm_core::Result<Batch> {
        let (x, y, _) = batch(5000, max.min(8), false);
        Ok(Batch {
            x,
            y,
            observed: None,
        })
    }
}

fn build(p: &nn::Path) -> MlpEnergy {
    MlpEnergy::new(p, 2, layout(), &[16, 16], Activation::Elu)
}

fn new_trainer(cfg: TrainConfig) -> Trainer<MlpEnergy> {
    let (x, y, _) = batch(999, 32, false);
    Trainer::new(cfg, Device::Cpu, build, &Batch::labelled(&x, &y)).unwrap()
}

/// Whether two [`params`] lists hold equal tensors.
fn same(a: &[(String, Tensor)], b: &[(String, Tensor)]) -> bool {
    a.iter().zip(b).all(|((_, u), (_, v))| u.equal(v))
}

fn params(t: &Trainer<MlpEnergy>) -> Vec<(String, Tensor)> {
    let mut v: Vec<_> = t.var_store().variables().into_iter().collect();
    v.extend(
        t.ema_var_store()
            .variables()
            .into_iter()
            .map(|(n, t)| (format!("ema.{n}"), t)),
    );
    v.push(("buffer.x".into(), t.buffer().x.shallow_clone()));
    v.push(("buffer.y".into(), t.buffer().y.shallow_clone()));
    v.sort_by(|a, b| a.0.cmp(&b.0));
    v
}

fn run(
    t: &mut Trainer<MlpEnergy>,
    dir: Option<&std::path::Path>,
    observed: bool,
) -> jem_train::EvalMetrics {
    let mut data = Source::new(observed);
    let test = data.test_set(8, Device::Cpu).unwrap();
    let options = TrainOptions {
        test: Some(&test),
        checkpoint_dir: dir,
        ..Default::default()
    };
    t.train(&mut data, &options, &mut Silent).unwrap().0
}

/// A run stopped at a checkpoint and resumed reproduces the uninterrupted run bit for bit
/// (parameters, EMA, Adam state through the parameters, buffer, and the final metrics).
#[test]
fn resumed_run_reproduces_uninterrupted_run() {
    let _rng = rng_lock();
    for (observed, cond_weight) in [(false, 0.0), (true, 0.0), (true, 0.5)] {
        let base = TrainConfig {
            cond_weight,
            ..tiny_config()
        };
        let full_dir = tempfile::tempdir().unwrap();
        let mut full = new_trainer(base.clone());
        let m_full = run(&mut full, Some(full_dir.path()), observed);

        let dir = tempfile::tempdir().unwrap();
        let mut first = new_trainer(TrainConfig {
            iterations: 3,
            ..base.clone()
        });
        run(&mut first, Some(dir.path()), observed);
        drop(first);
        let mut resumed = Trainer::resume(
            dir.path(),
            Device::Cpu,
            build,
            &Overrides {
                iterations: Some(6),
                ..Default::default()
            },
        )
        .unwrap();
        assert_eq!(resumed.iteration(), 3);
        let m_resumed = run(&mut resumed, Some(dir.path()), observed);
        assert_eq!(resumed.iteration(), 6);
        for ((na, a), (nb, b)) in params(&full).iter().zip(params(&resumed).iter()) {
            assert_eq!(na, nb);
            assert!(
                a.equal(b),
                "{na} differs after resume (observed labels: {observed})"
            );
        }
        assert_eq!(m_full, m_resumed);
    }
}

/// A stop requested once training is done skips the final evaluation: the run returns
/// `Interrupted` at its last iteration with the final checkpoint written, not the metrics.
#[test]
fn stop_before_the_final_evaluation_skips_it() {
    let _rng = rng_lock();
    let dir = tempfile::tempdir().unwrap();
    let mut t = new_trainer(tiny_config());
    run(&mut t, Some(dir.path()), false);
    assert_eq!(t.iteration(), 6);
    let stop = std::sync::atomic::AtomicBool::new(true);
    let mut data = Source::new(false);
    let test = data.test_set(8, Device::Cpu).unwrap();
    let options = TrainOptions {
        test: Some(&test),
        checkpoint_dir: Some(dir.path()),
        stop: Some(&stop),
        ..Default::default()
    };
    match t.train(&mut data, &options, &mut Silent) {
        Err(Error::Interrupted {
            iteration,
            checkpoint,
        }) => {
            assert_eq!(iteration, 6);
            assert!(checkpoint.is_some_and(|p| p.exists()));
        }
        other => panic!("expected Interrupted, got {:?}", other.map(|r| r.0)),
    }
}

/// Checkpoint round trip: a loaded trainer has exactly the saved parameters, EMA, buffer and
/// initial distributions; a corrupt checkpoint gives a file error, not a panic.
#[test]
fn checkpoint_round_trip_and_corruption() {
    let _rng = rng_lock();
    let dir = tempfile::tempdir().unwrap();
    let mut t = new_trainer(TrainConfig {
        iterations: 2,
        ..tiny_config()
    });
    run(&mut t, Some(dir.path()), false);
    let loaded = Trainer::resume(dir.path(), Device::Cpu, build, &Overrides::default()).unwrap();
    for ((na, a), (_, b)) in params(&t).iter().zip(params(&loaded).iter()) {
        assert!(a.equal(b), "{na}");
    }
    assert!(loaded.x_init().low.equal(&t.x_init().low));
    assert_eq!(loaded.y_init(), t.y_init());
    // corrupt the model file of the newest checkpoint
    let ckpt = jem_train::checkpoint::resolve(dir.path()).unwrap();
    std::fs::write(ckpt.join("model.safetensors"), b"garbage").unwrap();
    let e = Trainer::resume(dir.path(), Device::Cpu, build, &Overrides::default())
        .err()
        .unwrap();
    assert!(matches!(e, Error::File { .. }), "{e}");
    std::fs::write(ckpt.join("state.json"), b"{ not json").unwrap();
    let e = Trainer::resume(&ckpt, Device::Cpu, build, &Overrides::default())
        .err()
        .unwrap();
    assert!(e.to_string().contains("state.json"), "{e}");
    assert!(Trainer::resume(
        &dir.path().join("missing"),
        Device::Cpu,
        build,
        &Overrides::default()
    )
    .is_err());
}

/// An energy that turns NaN when a shared switch is flipped.
struct Poisoned {
    inner: MlpEnergy,
    scale: Rc<Cell<f64>>,
}

impl JointEnergy for Poisoned {
    fn y_layout(&self) -> &YLayout {
        self.inner.y_layout()
    }
    fn features(&self, x: &Tensor) -> Option<Tensor> {
        self.inner.features(x)
    }
    fn log_density_from_features(&self, h: &Tensor, y: &Tensor) -> Tensor {
        self.inner.log_density_from_features(h, y) * self.scale.get()
    }
}

/// Non-finite energies, and finite ones beyond `max_abs_energy`, stop training with an error
/// naming the iteration; the last checkpoint written before stays loadable.
#[test]
fn divergence_is_detected_and_last_good_checkpoint_kept() {
    let _rng = rng_lock();
    for (poison, expect) in [(f64::NAN, "not finite"), (1e9, "max_abs_energy")] {
        diverge_at_4(poison, expect);
    }
}

fn diverge_at_4(poison: f64, expect: &str) {
    let dir = tempfile::tempdir().unwrap();
    let scale = Rc::new(Cell::new(1.0));
    let s2 = scale.clone();
    let build_p = move |p: &nn::Path| Poisoned {
        inner: build(p),
        scale: s2.clone(),
    };
    let (x, y, _) = batch(999, 32, false);
    let mut t = Trainer::new(
        tiny_config(),
        Device::Cpu,
        build_p,
        &Batch::labelled(&x, &y),
    )
    .unwrap();
    let s3 = scale.clone();
    let mut data = Source::new(false);
    data.hook = Box::new(move |it| {
        if it == 4 {
            s3.set(poison);
        }
    });
    let options = TrainOptions {
        checkpoint_dir: Some(dir.path()),
        ..Default::default()
    };
    let r = t.train(&mut data, &options, &mut Silent);
    match r {
        Err(Error::Diverged { iteration, what }) => {
            assert_eq!(iteration, 4);
            assert!(what.contains(expect), "{what}");
        }
        other => panic!("expected divergence, got {other:?}"),
    }
    let ckpt = jem_train::checkpoint::resolve(dir.path()).unwrap();
    assert!(ckpt.ends_with("ckpt-00000003"), "{}", ckpt.display());
    let resumed = Trainer::resume(dir.path(), Device::Cpu, build, &Overrides::default()).unwrap();
    assert_eq!(resumed.iteration(), 3);
}

/// While the chains are sampled (imputation and negative phase) the parameters are frozen, so
/// no evaluation of the energy builds a graph to the weights; only the loss forward does. An
/// energy that records, at every call, whether its first weight requires a gradient sees
/// `false` for every sampler call and `true` exactly once (the one forward over `[x⁺; x⁻]`),
/// and the live parameters are trainable again afterwards.
#[test]
fn sampling_builds_no_weight_gradients() {
    let _rng = rng_lock();
    let log: Rc<std::cell::RefCell<Vec<bool>>> = Rc::default();
    let probe: Rc<std::cell::RefCell<Option<Tensor>>> = Rc::default();
    let (l2, p2) = (log.clone(), probe.clone());
    let build_p = move |p: &nn::Path| Probed {
        inner: build(p),
        log: l2.clone(),
        probe: p2.clone(),
    };
    let (x, y, _) = batch(999, 32, false);
    let mut t = Trainer::new(
        tiny_config(),
        Device::Cpu,
        build_p,
        &Batch::labelled(&x, &y),
    )
    .unwrap();
    let (name, w) = t.var_store().variables().into_iter().next().unwrap();
    probe.replace(Some(w));
    log.borrow_mut().clear();
    let (x, y, obs) = batch(0, 16, true);
    t.step(&Batch::partial(&x, &y, obs.as_ref())).unwrap();
    let calls = log.borrow().clone();
    let with_grad = calls.iter().filter(|&&g| g).count();
    // 2 imputation steps + 3 sweeps × 2 kernels + the initial evaluations: many sampler calls.
    assert!(calls.len() > 5, "{calls:?}");
    assert_eq!(with_grad, 1, "{name}: {calls:?}");
    assert!(
        *calls.last().unwrap(),
        "the loss forward comes last: {calls:?}"
    );
    for (name, v) in t.var_store().variables() {
        assert!(
            v.requires_grad(),
            "{name} must be trainable again after sampling"
        );
    }
    for (name, v) in t.ema_var_store().variables() {
        assert!(!v.requires_grad(), "EMA {name} must be frozen");
    }
}

/// Records whether the probed weight requires a gradient at every head evaluation.
struct Probed {
    inner: MlpEnergy,
    log: Rc<std::cell::RefCell<Vec<bool>>>,
    probe: Rc<std::cell::RefCell<Option<Tensor>>>,
}

impl JointEnergy for Probed {
    fn y_layout(&self) -> &YLayout {
        self.inner.y_layout()
    }
    fn features(&self, x: &Tensor) -> Option<Tensor> {
        self.inner.features(x)
    }
    fn log_density_from_features(&self, h: &Tensor, y: &Tensor) -> Tensor {
        if let Some(w) = self.probe.borrow().as_ref() {
            self.log.borrow_mut().push(w.requires_grad());
        }
        self.inner.log_density_from_features(h, y)
    }
}

/// The reported loss is the joint term minus `α ·` the reported conditional pseudo-likelihood,
/// which is ≤ 0 (a sum of log-probabilities); with `α = 0` no conditional term is reported.
#[test]
fn conditional_term_enters_the_loss() {
    let _rng = rng_lock();
    for (alpha, observed) in [(0.0, false), (0.7, false), (0.7, true)] {
        let mut t = new_trainer(TrainConfig {
            cond_weight: alpha,
            ..tiny_config()
        });
        let (x, y, obs) = batch(0, 16, observed);
        let r = t.step(&Batch::partial(&x, &y, obs.as_ref())).unwrap();
        let cond = r.cond_ll.unwrap_or(0.0);
        assert_eq!(r.cond_ll.is_some(), alpha > 0.0);
        assert!(cond <= 0.0 && cond.is_finite(), "{cond}");
        if alpha > 0.0 {
            assert!(cond < 0.0);
        }
        let want = -(r.f_pos - r.f_neg) - alpha * cond;
        assert!((r.loss - want).abs() < 1e-5, "{} vs {want}", r.loss);
    }
}

/// With `cond_batch_size`, the first `batch_size` rows form the positive phase and every row
/// the conditional term (read from the label gradient); sizes that cannot work are refused.
#[test]
fn conditional_batch_serves_only_the_conditional_term() {
    let _rng = rng_lock();
    let cfg = TrainConfig {
        cond_weight: 0.7,
        cond_from_gradient: true,
        cond_batch_size: 48,
        ..tiny_config()
    };
    let mut t = new_trainer(cfg.clone());
    let (x, y, _) = batch(0, 48, false);
    let (f_first, ll_all) = {
        let m = t.model();
        let f = tch::no_grad(|| m.log_density(&x, &y));
        let h = m.features(&x).unwrap_or_else(|| x.shallow_clone());
        let ll = group_log_likelihood_from_gradient(m, &h, &y, None);
        (
            f.narrow(0, 0, 16).mean(Kind::Double).double_value(&[]),
            ll.mean(Kind::Double).double_value(&[]),
        )
    };
    let r = t.step(&Batch::labelled(&x, &y)).unwrap();
    assert!((r.f_pos - f_first).abs() < 1e-5, "{} vs {f_first}", r.f_pos);
    let cond = r.cond_ll.unwrap();
    assert!((cond - ll_all).abs() < 1e-5, "{cond} vs {ll_all}");
    assert!(cfg.objective_summary().contains("on 48 labelled rows"));
    for bad in [
        TrainConfig {
            cond_batch_size: 8,
            ..cfg.clone()
        },
        TrainConfig {
            cond_weight: 0.0,
            ..cfg.clone()
        },
        TrainConfig {
            cond_steps: 3,
            cond_from_gradient: false,
            ..cfg.clone()
        },
    ] {
        let err = bad.validate().unwrap_err().to_string();
        assert!(err.contains("cond_batch_size"), "{err}");
    }
}

#[test]
fn bad_configs_are_rejected() {
    let _rng = rng_lock();
    let (x, y, _) = batch(999, 32, false);
    for cfg in [
        TrainConfig {
            lr: 0.0,
            ..tiny_config()
        },
        TrainConfig {
            batch_size: 0,
            ..tiny_config()
        },
        TrainConfig {
            reinit_prob: 1.5,
            ..tiny_config()
        },
        TrainConfig {
            ema_decay: 1.0,
            ..tiny_config()
        },
        TrainConfig {
            l2_energy: f64::NAN,
            ..tiny_config()
        },
        TrainConfig {
            cond_weight: -1.0,
            ..tiny_config()
        },
        TrainConfig {
            cond_weight: f64::INFINITY,
            ..tiny_config()
        },
        TrainConfig {
            max_abs_energy: -1.0,
            ..tiny_config()
        },
    ] {
        let e = Trainer::new(cfg, Device::Cpu, build, &Batch::labelled(&x, &y))
            .err()
            .unwrap();
        assert!(matches!(e, Error::InvalidConfig { .. }), "{e}");
    }
    let bad_x = x.copy();
    let _ = bad_x.get(0).get(0).fill_(f64::NAN);
    assert!(Trainer::new(
        tiny_config(),
        Device::Cpu,
        build,
        &Batch::labelled(&bad_x, &y)
    )
    .is_err());
}

/// The Rao-Blackwellised negative phase: resume stays exact, and the loss is
/// `−(mean f⁺ − mean_x⁻ E_{p(y|x⁻)} f(x⁻, y))`, which differs from the sampled term's loss.
#[test]
fn expected_negative_phase_trains_and_resumes_exactly() {
    let _rng = rng_lock();
    let base = TrainConfig {
        negative_labels: NegativeLabels::Expected,
        ..tiny_config()
    };
    let mut full = new_trainer(base.clone());
    let m_full = run(&mut full, None, true);
    let dir = tempfile::tempdir().unwrap();
    let mut first = new_trainer(TrainConfig {
        iterations: 3,
        ..base.clone()
    });
    run(&mut first, Some(dir.path()), true);
    let mut resumed = Trainer::resume(
        dir.path(),
        Device::Cpu,
        build,
        &Overrides {
            iterations: Some(6),
            ..Default::default()
        },
    )
    .unwrap();
    assert_eq!(resumed.config().negative_labels, NegativeLabels::Expected);
    let m_resumed = run(&mut resumed, None, true);
    for ((na, a), (_, b)) in params(&full).iter().zip(params(&resumed).iter()) {
        assert!(a.equal(b), "{na} differs after resume");
    }
    assert_eq!(m_full, m_resumed);
    // One step each from the same state: the sampled and expected losses differ, and the
    // expected one is not the sampled f⁻ formula.
    let (x, y, _) = batch(0, 16, false);
    let b = Batch::labelled(&x, &y);
    let r = new_trainer(base.clone()).step(&b).unwrap();
    assert!(r.loss.is_finite());
    assert!((r.loss - (-(r.f_pos - r.f_neg))).abs() > 1e-7);
    // A label space too large to enumerate is refused at construction.
    let big = |p: &nn::Path| {
        MlpEnergy::new(
            p,
            2,
            YLayout::categorical(vec![100, 100]).unwrap(),
            &[4],
            Activation::Elu,
        )
    };
    let yb = YLayout::categorical(vec![100, 100])
        .unwrap()
        .encode(
            &Tensor::zeros([4, 2], (Kind::Int64, Device::Cpu)),
            Kind::Float,
        )
        .unwrap();
    let xb = Tensor::zeros([4, 2], (Kind::Float, Device::Cpu));
    let e = Trainer::new(base, Device::Cpu, big, &Batch::labelled(&xb, &yb))
        .err()
        .unwrap();
    assert!(matches!(e, Error::TooManyConfigurations { .. }), "{e}");
}

/// `generate` clamps what it is asked to, per chain or for all, from noise or from matching
/// buffer states; bad requests are errors.
#[test]
fn generate_clamps_and_rejects_bad_requests() {
    let _rng = rng_lock();
    for start in [
        GenerationStart::Noise,
        GenerationStart::Buffer,
        GenerationStart::Posterior,
    ] {
        let mut t = new_trainer(TrainConfig {
            gen_sweeps: 3,
            gen_start: start,
            ..tiny_config()
        });
        run(&mut t, None, false);
        let (x, v) = t.generate(6, &[(1, &[2])], None).unwrap();
        assert_eq!(x.size(), vec![6, 2]);
        assert_eq!(Vec::<i64>::try_from(v.select(1, 1)).unwrap(), vec![2; 6]);
        let per_chain = [0i64, 1, 0, 1];
        let (_, v) = t.generate(4, &[(0, &per_chain), (1, &[1])], None).unwrap();
        assert_eq!(
            Vec::<i64>::try_from(v.select(1, 0)).unwrap(),
            per_chain.to_vec()
        );
        // Inpainting: clamped elements of x keep their values.
        let vals = Tensor::full([3, 2], 0.25, (Kind::Float, Device::Cpu));
        let mask = Tensor::from_slice(&[true, false])
            .view([1, 2])
            .expand([3, 2], false)
            .contiguous();
        let (x, _) = t.generate(3, &[], Some((&vals, &mask))).unwrap();
        assert!(x.select(1, 0).eq(0.25).all().int64_value(&[]) == 1);
        for bad in [
            t.generate(0, &[], None),
            t.generate(4, &[(2, &[0])], None),
            t.generate(4, &[(1, &[3])], None),
            t.generate(4, &[(0, &[0, 1])], None),
            t.generate(4, &[(0, &[-1])], None),
        ] {
            assert!(matches!(bad, Err(Error::InvalidConfig { .. })));
        }
        assert!(t
            .generate(3, &[], Some((&vals.narrow(0, 0, 2), &mask.narrow(0, 0, 2))))
            .is_err());
    }
}

/// A judge's figures reach every evaluation's metrics; `eval_examples` limits the test set
/// (0 = all of it); the objective summary names every departure from the paper.
#[test]
fn judges_and_eval_examples_reach_the_metrics() {
    let _rng = rng_lock();
    let calls = Rc::new(Cell::new(0));
    let seen = calls.clone();
    for (eval_examples, want) in [(0i64, 8i64), (5, 5)] {
        let mut t = new_trainer(TrainConfig {
            eval_every: 2,
            eval_examples,
            ..tiny_config()
        });
        let seen = seen.clone();
        t.set_judge(Box::new(move |t: &Trainer<MlpEnergy>| {
            seen.set(seen.get() + 1);
            let mut m = std::collections::BTreeMap::new();
            m.insert("it".to_string(), t.iteration() as f64);
            Ok(m)
        }));
        let m = run(&mut t, None, false);
        assert_eq!(m.test_examples, want);
        assert_eq!(m.judges.get("it"), Some(&6.0));
        let json = serde_json::to_value(&m).unwrap();
        assert_eq!(
            json["it"], 6.0,
            "judges are flattened into the metrics: {json}"
        );
    }
    // Evaluations at 2 and 4 and the final one, for both runs.
    assert_eq!(calls.get(), 6);
    assert!(TrainConfig::default()
        .objective_summary()
        .contains("the paper's objective"));
    let s = TrainConfig {
        cond_weight: 2.0,
        negative_labels: NegativeLabels::Expected,
        ..TrainConfig::default()
    }
    .objective_summary();
    assert!(
        s.contains("NOT the paper") && s.contains("Rao-Blackwellised"),
        "{s}"
    );
    let bad = TrainConfig {
        eval_examples: -1,
        ..tiny_config()
    };
    assert!(bad.validate().is_err());
}

/// Training runs with every supported kernel pair, chosen from the configuration (and
/// overridable on resume): exact Gibbs on y, MALA on x, and the paper's GWG + Langevin.
#[test]
fn trains_with_every_kernel_pair() {
    use jem_train::{XSampler, YSampler};
    use mwg_names::names;
    let _rng = rng_lock();
    for y_sampler in [YSampler::Gwg, YSampler::Gibbs, YSampler::Dmala] {
        for x_sampler in [XSampler::Langevin, XSampler::Mala] {
            let cfg = TrainConfig {
                y_sampler,
                x_sampler,
                ..tiny_config()
            };
            let mut t = new_trainer(cfg);
            assert_eq!(
                names(&t),
                (
                    format!("{y_sampler:?}").to_lowercase(),
                    format!("{x_sampler:?}").to_lowercase()
                )
            );
            let m = run(&mut t, None, true);
            assert!(m.energy_accuracy.unwrap().is_finite());
            assert!(m.sample_accuracy.unwrap().is_finite());
            let paper = y_sampler == YSampler::Gwg && x_sampler == XSampler::Langevin;
            assert_eq!(t.config().objective_summary().contains("samplers"), !paper);
        }
    }
    // A resumed run may switch kernels.
    let dir = tempfile::tempdir().unwrap();
    let mut t = new_trainer(tiny_config());
    run(&mut t, Some(dir.path()), false);
    let o = Overrides {
        iterations: Some(8),
        y_sampler: Some(YSampler::Gibbs),
        x_sampler: Some(XSampler::Mala),
        ..Default::default()
    };
    let mut r = Trainer::resume(dir.path(), Device::Cpu, build, &o).unwrap();
    assert_eq!(names(&r), ("gibbs".into(), "mala".into()));
    run(&mut r, None, false);
    assert_eq!(r.iteration(), 8);
}

mod mwg_names {
    use ebm_core::{ContinuousKernel, DiscreteKernel};

    /// The names of the trainer's kernels.
    pub fn names(t: &jem_train::Trainer<jem_train::MlpEnergy>) -> (String, String) {
        let s = t.sampler().unwrap();
        (
            s.discrete.name().to_string(),
            s.continuous.name().to_string(),
        )
    }
}

/// A malformed batch is a typed error naming what is wrong, never a panic, and leaves the
/// trainer usable (the iteration counter does not move).
#[test]
fn malformed_batches_are_errors() {
    let _rng = rng_lock();
    let mut t = new_trainer(tiny_config());
    let (x, y, _) = batch(0, 16, false);
    let obs_bad = Tensor::ones([16, 3], (Kind::Bool, Device::Cpu));
    let obs_int = Tensor::ones([16, 2], (Kind::Int64, Device::Cpu));
    let cases: Vec<(&str, Tensor, Tensor, Option<Tensor>)> = vec![
        ("x", x.narrow(1, 0, 1), y.shallow_clone(), None),
        ("x", x.unsqueeze(1), y.shallow_clone(), None),
        ("x", x.narrow(0, 0, 0), y.narrow(0, 0, 0), None),
        ("x", x.to_kind(Kind::Double), y.shallow_clone(), None),
        ("y", x.shallow_clone(), y.narrow(0, 0, 8), None),
        ("y", x.shallow_clone(), y.narrow(1, 0, 4), None),
        ("y", x.shallow_clone(), y.to_kind(Kind::Int64), None),
        (
            "observed",
            x.shallow_clone(),
            y.shallow_clone(),
            Some(obs_bad),
        ),
        (
            "observed",
            x.shallow_clone(),
            y.shallow_clone(),
            Some(obs_int),
        ),
    ];
    for (what, bx, by, bo) in &cases {
        let r = t.step(&Batch::partial(bx, by, bo.as_ref()));
        match r {
            Err(e @ (Error::Shape { .. } | Error::InvalidConfig { .. })) => {
                assert!(e.to_string().contains(what), "{what}: {e}")
            }
            other => panic!("{what}: expected a typed error, got {other:?}"),
        }
    }
    assert_eq!(t.iteration(), 0);
    t.step(&Batch::labelled(&x, &y)).unwrap();
    assert_eq!(t.iteration(), 1);
}

/// `data_reinit_prob = 1` starts every negative chain at the batch's data points: with a
/// Langevin step too small to move them, the written-back buffer slots hold the data `x`;
/// with 0 (the paper) none does.
#[test]
fn data_reinit_starts_negative_chains_at_the_data() {
    let _rng = rng_lock();
    for (p, want_some) in [(1.0, true), (0.0, false)] {
        let mut t = new_trainer(TrainConfig {
            data_reinit_prob: p,
            reinit_prob: 0.0,
            sweeps: 1,
            langevin: samplers_cont_config(),
            ..tiny_config()
        });
        let (x, y, _) = batch(0, 16, false);
        t.step(&Batch::labelled(&x, &y)).unwrap();
        // For every buffer row, the distance to the nearest data row.
        let d = (t.buffer().x.unsqueeze(1) - x.unsqueeze(0))
            .abs()
            .amax(&[2i64][..], false)
            .amin(&[1i64][..], false);
        let at_data = i64::try_from(d.lt(1e-4).sum(Kind::Int64)).unwrap();
        assert_eq!(
            at_data >= 8,
            want_some,
            "p = {p}: {at_data} slots at data points"
        );
        if !want_some {
            assert_eq!(at_data, 0);
        }
    }
    let bad = TrainConfig {
        data_reinit_prob: 1.5,
        ..tiny_config()
    };
    assert!(bad.validate().is_err());
}

/// `data_noise = σ` perturbs the positive `x` with fresh `N(0, σ²)`: chains restarted at the
/// batch's data points (`data_reinit_prob = 1`, a Langevin step too small to move them) hold
/// the perturbed points — off the data, within a few σ of it. The setting is validated and
/// named in the objective.
#[test]
fn data_noise_perturbs_the_positive_x() {
    let _rng = rng_lock();
    let sigma = 0.1;
    let mut t = new_trainer(TrainConfig {
        data_noise: sigma,
        data_reinit_prob: 1.0,
        reinit_prob: 0.0,
        sweeps: 1,
        langevin: samplers_cont_config(),
        ..tiny_config()
    });
    let (x, y, _) = batch(0, 16, false);
    t.step(&Batch::labelled(&x, &y)).unwrap();
    let d = (t.buffer().x.unsqueeze(1) - x.unsqueeze(0))
        .abs()
        .amax(&[2i64][..], false)
        .amin(&[1i64][..], false);
    // Rows drawn by this step (with replacement: at least 8 distinct of the 16) sit near, not at,
    // a data point; no buffer row is exactly at one.
    let at_data = i64::try_from(d.lt(1e-4).sum(Kind::Int64)).unwrap();
    let near = i64::try_from(d.lt(6.0 * sigma).sum(Kind::Int64)).unwrap();
    assert_eq!(at_data, 0, "{at_data} slots exactly at data points");
    assert!(near >= 8, "only {near} slots within 6σ of the data");
    assert!(t.config().objective_summary().contains("σ = 0.1"));
    assert!(!t
        .config()
        .objective_summary()
        .contains("the paper's objective"));
    for bad in [-0.1, f64::NAN] {
        let cfg = TrainConfig {
            data_noise: bad,
            ..tiny_config()
        };
        assert!(cfg.validate().is_err(), "data_noise = {bad} accepted");
    }
}

/// A batch of 16 in which every row has the labels (1, 2): `(x, y, the one-hot row of (1, 2))`.
fn batch_labelled_1_2() -> (Tensor, Tensor, Tensor) {
    let l = layout();
    let (x, _, _) = batch(0, 16, false);
    let values = Tensor::from_slice(&[1i64, 2]).view([1, 2]).repeat([16, 1]);
    let y = l.encode(&values, Kind::Float).unwrap();
    let target = l.encode(&values.narrow(0, 0, 1), Kind::Float).unwrap();
    (x, y, target)
}

/// `conditional_negatives = 1`: every chain of the negative phase takes the batch's labels
/// and keeps them (the layout has groups only, so `y` is clamped whole); with 0 the chains'
/// labels are their own. Bad values and combinations are refused; the objective names it.
#[test]
fn conditional_negatives_clamp_the_batch_labels() {
    let _rng = rng_lock();
    let (x, y, target) = batch_labelled_1_2();
    let written_labels = |rho: f64| {
        let mut t = new_trainer(TrainConfig {
            conditional_negatives: rho,
            reinit_prob: 0.0,
            ..tiny_config()
        });
        let before = t.buffer().x.copy();
        t.step(&Batch::labelled(&x, &y)).unwrap();
        let moved = (t.buffer().x.copy() - before)
            .abs()
            .sum_dim_intlist(1, false, Kind::Float)
            .gt(0.0);
        let hit = t.buffer().y.eq_tensor(&target).all_dim(1, false);
        let n = i64::try_from(moved.sum(Kind::Int64)).unwrap();
        let kept = i64::try_from(moved.logical_and(&hit).sum(Kind::Int64)).unwrap();
        (n, kept, t.config().objective_summary())
    };
    let (n, kept, objective) = written_labels(1.0);
    assert!(n >= 8, "only {n} chains moved");
    assert_eq!(kept, n, "a conditional chain left the batch's labels");
    assert!(objective.contains("log p(x, bits | groups)"), "{objective}");
    assert!(!objective.contains("(the paper's objective)"));
    let (n, kept, _) = written_labels(0.0);
    assert!(
        kept < n,
        "joint chains all hold the batch's labels ({kept} of {n})"
    );
    for bad in [
        TrainConfig {
            conditional_negatives: 1.5,
            ..tiny_config()
        },
        TrainConfig {
            conditional_negatives: f64::NAN,
            ..tiny_config()
        },
        TrainConfig {
            conditional_negatives: 0.5,
            negative_labels: jem_train::NegativeLabels::Expected,
            ..tiny_config()
        },
    ] {
        let err = bad.validate().unwrap_err().to_string();
        assert!(err.contains("conditional_negatives"), "{err}");
    }
}

/// With conditional negatives the report splits `f⁻` by kind of chain (the whole mean lies
/// between the two); without them it does not.
#[test]
fn conditional_negatives_report_each_kind_of_chain() {
    let _rng = rng_lock();
    let (x, y, _) = batch(0, 16, false);
    let report = |rho: f64| {
        let mut t = new_trainer(TrainConfig {
            conditional_negatives: rho,
            ..tiny_config()
        });
        t.step(&Batch::labelled(&x, &y)).unwrap()
    };
    let r = report(0.5);
    let (j, c) = (r.f_neg_joint.unwrap(), r.f_neg_conditional.unwrap());
    assert!(
        r.f_neg >= j.min(c) - 1e-9 && r.f_neg <= j.max(c) + 1e-9,
        "f⁻ {} outside [{j}, {c}]",
        r.f_neg
    );
    // Every chain conditional: no joint mean, and the conditional one is the whole mean.
    let r = report(1.0);
    assert!(r.f_neg_joint.is_none(), "{:?}", r.f_neg_joint);
    assert!((r.f_neg_conditional.unwrap() - r.f_neg).abs() < 1e-4 * (1.0 + r.f_neg.abs()));
    let r = report(0.0);
    assert!(r.f_neg_joint.is_none() && r.f_neg_conditional.is_none());
}

/// `conditional_persistent`: the buffer's first `ρ·N` slots hold conditional chains that keep
/// their own labels (all of `y` here: the layout has groups only), the others joint chains;
/// a conditional chain that restarts takes the batch's labels. Half the negatives come from
/// each part. Refused without conditional negatives; the objective names it.
#[test]
fn persistent_conditional_chains_keep_their_own_labels() {
    let _rng = rng_lock();
    let (x, y, target) = batch_labelled_1_2();
    let run = |reinit_prob: f64| {
        let mut t = new_trainer(TrainConfig {
            conditional_negatives: 0.5,
            conditional_persistent: true,
            reinit_prob,
            ..tiny_config()
        });
        let (x_before, y_before) = (t.buffer().x.copy(), t.buffer().y.copy());
        t.step(&Batch::labelled(&x, &y)).unwrap();
        let moved = (t.buffer().x.copy() - x_before)
            .abs()
            .sum_dim_intlist(1, false, Kind::Float)
            .gt(0.0);
        let same_y = t.buffer().y.eq_tensor(&y_before).all_dim(1, false);
        let hit = t.buffer().y.eq_tensor(&target).all_dim(1, false);
        let count = |m: &Tensor| i64::try_from(m.sum(Kind::Int64)).unwrap();
        // buffer_size 64, ρ = 0.5: slots 0..32 conditional, 32..64 joint.
        let (c, j) = (moved.narrow(0, 0, 32), moved.narrow(0, 32, 32));
        (
            count(&c),
            count(&c.logical_and(&same_y.narrow(0, 0, 32))),
            count(&c.logical_and(&hit.narrow(0, 0, 32))),
            count(&j),
            count(&j.logical_and(&same_y.narrow(0, 32, 32))),
            t.config().objective_summary(),
        )
    };
    // No restarts: the conditional chains that ran kept their labels, whatever they were;
    // the joint chains' labels moved.
    let (c, c_same, _, j, j_same, objective) = run(0.0);
    assert!(c >= 4 && j >= 4, "{c} conditional and {j} joint slots ran");
    assert_eq!(
        c_same, c,
        "a persistent conditional chain changed its labels"
    );
    assert!(
        j_same < j,
        "no joint chain changed its labels ({j_same} of {j} kept)"
    );
    assert!(
        objective.contains("persistent chains whose categorical groups stay clamped"),
        "{objective}"
    );
    // Every chain restarted: the conditional ones took the batch's labels (1, 2).
    let (c, _, c_hit, _, _, _) = run(1.0);
    assert!(c >= 4, "{c} conditional slots ran");
    assert_eq!(
        c_hit, c,
        "a restarted conditional chain did not take the batch's labels"
    );
    let bad = TrainConfig {
        conditional_persistent: true,
        ..tiny_config()
    };
    let err = bad.validate().unwrap_err().to_string();
    assert!(err.contains("conditional_persistent"), "{err}");
}

/// `conditional_reinit_prob = 1`: every conditional chain starts from `p₀(x)`, not from its
/// buffer state. With a Langevin step too small to move `x`, a slot written back by a buffer
/// chain keeps its `x`; a restarted one holds a fresh draw from noise. Its labels stay clamped.
#[test]
fn conditional_chains_restart_from_noise() {
    let _rng = rng_lock();
    let (x, y, target) = batch_labelled_1_2();
    let restarted = |p: f64| {
        let mut t = new_trainer(TrainConfig {
            conditional_negatives: 1.0,
            conditional_reinit_prob: p,
            reinit_prob: 0.0,
            langevin: samplers_cont_config(),
            ..tiny_config()
        });
        let before = t.buffer().x.copy();
        t.step(&Batch::labelled(&x, &y)).unwrap();
        let changed = (t.buffer().x.copy() - before)
            .abs()
            .amax(&[1i64][..], false)
            .gt(1e-3);
        let n = i64::try_from(changed.sum(Kind::Int64)).unwrap();
        let hit = t.buffer().y.eq_tensor(&target).all_dim(1, false);
        let kept = i64::try_from(changed.logical_and(&hit).sum(Kind::Int64)).unwrap();
        (n, kept, t.config().objective_summary())
    };
    let (n, kept, objective) = restarted(1.0);
    assert!(n >= 8, "only {n} slots hold a fresh x");
    assert_eq!(kept, n, "a restarted chain left the batch's labels");
    assert!(objective.contains("restarted from p0(x)"), "{objective}");
    let (n, _, _) = restarted(0.0);
    assert_eq!(n, 0, "{n} buffer chains jumped without a restart");
    for bad in [
        TrainConfig {
            conditional_negatives: 0.5,
            conditional_reinit_prob: -0.1,
            ..tiny_config()
        },
        TrainConfig {
            conditional_reinit_prob: 0.5,
            ..tiny_config()
        },
    ] {
        let err = bad.validate().unwrap_err().to_string();
        assert!(err.contains("conditional_reinit_prob"), "{err}");
    }
}

fn samplers_cont_config() -> samplers_cont::LangevinConfig {
    samplers_cont::LangevinConfig {
        step_size: 1e-12,
        noise_scale: 1e-12,
    }
}

/// Records the recovery events of a run.
#[derive(Default)]
struct Recorder {
    events: Vec<jem_train::RecoveryEvent>,
}

impl jem_train::Observer for Recorder {
    fn on_recovery(&mut self, e: &jem_train::RecoveryEvent) {
        self.events.push(e.clone());
    }
}

fn recovery_config() -> TrainConfig {
    TrainConfig {
        iterations: 12,
        checkpoint_every: 4,
        recovery: jem_train::RecoveryConfig {
            enabled: true,
            snapshot_every: 4,
            max_recoveries: 2,
            ..Default::default()
        },
        ..tiny_config()
    }
}

fn poisoned_trainer(cfg: TrainConfig, scale: &Rc<Cell<f64>>) -> Trainer<Poisoned> {
    let s2 = scale.clone();
    let (x, y, _) = batch(999, 32, false);
    Trainer::new(
        cfg,
        Device::Cpu,
        move |p: &nn::Path| Poisoned {
            inner: build(p),
            scale: s2.clone(),
        },
        &Batch::labelled(&x, &y),
    )
    .unwrap()
}

/// Non-finite energies once, at iteration 6: the run rolls back to the snapshot of iteration
/// 4, halves the learning rate, reseeds, and finishes with exactly one recovery. The rollback
/// restored the state of iteration 4 exactly: the recovered run ends bit for bit where a clean
/// run, resumed from its checkpoint of iteration 4 with the same learning rate and seed, ends.
#[test]
fn one_divergence_is_recovered_by_rollback_and_retune() {
    let _rng = rng_lock();
    let scale = Rc::new(Cell::new(1.0));
    let mut t = poisoned_trainer(recovery_config(), &scale);
    let s3 = scale.clone();
    let mut data = Source::new(false);
    data.hook = Box::new(move |call| s3.set(if call == 6 { f64::NAN } else { 1.0 }));
    let mut rec = Recorder::default();
    let (_, summary) = t
        .train(&mut data, &TrainOptions::default(), &mut rec)
        .unwrap();
    assert_eq!(summary.iterations, 12);
    assert_eq!(rec.events.len(), 1, "{:?}", rec.events);
    let e = &rec.events[0];
    assert_eq!((e.iteration, e.rolled_back_to), (6, 4));
    assert!(e.cause.contains("not finite"), "{}", e.cause);
    assert_eq!(e.lr, 0.5 * recovery_config().lr);
    assert_eq!(e.seed, jem_train::recovery_seed(recovery_config().seed, 1));
    assert_eq!(summary.recoveries, rec.events);
    assert_eq!(t.config().lr, e.lr);

    // The reference: a clean run checkpointed at 4, resumed with the retuned lr and seed.
    let dir = tempfile::tempdir().unwrap();
    let clean = Rc::new(Cell::new(1.0));
    let mut r = poisoned_trainer(
        TrainConfig {
            iterations: 4,
            ..recovery_config()
        },
        &clean,
    );
    let opts = TrainOptions {
        checkpoint_dir: Some(dir.path()),
        ..Default::default()
    };
    r.train(&mut Source::new(false), &opts, &mut Silent)
        .unwrap();
    let c2 = clean.clone();
    let mut r = Trainer::resume(
        dir.path(),
        Device::Cpu,
        move |p: &nn::Path| Poisoned {
            inner: build(p),
            scale: c2.clone(),
        },
        &Overrides {
            iterations: Some(12),
            lr: Some(e.lr),
            seed: Some(e.seed),
            ..Default::default()
        },
    )
    .unwrap();
    r.train(
        &mut Source::new(false),
        &TrainOptions::default(),
        &mut Silent,
    )
    .unwrap();
    let vars = |t: &Trainer<Poisoned>| {
        let mut v: Vec<_> = t.var_store().variables().into_iter().collect();
        v.extend(
            t.ema_var_store()
                .variables()
                .into_iter()
                .map(|(n, t)| (format!("ema.{n}"), t)),
        );
        v.push(("buffer.x".into(), t.buffer().x.shallow_clone()));
        v.sort_by(|a, b| a.0.cmp(&b.0));
        v
    };
    for ((n, a), (_, b)) in vars(&t).iter().zip(vars(&r).iter()) {
        assert!(
            a.equal(b),
            "{n} differs from the clean run resumed at the snapshot"
        );
    }
}

/// A model that diverges at every attempt: after `max_recoveries` recoveries the run ends with
/// the typed error naming every attempt, and the last good checkpoint stays loadable.
#[test]
fn endless_divergence_gives_up_with_every_attempt_named() {
    let _rng = rng_lock();
    let scale = Rc::new(Cell::new(1.0));
    let mut t = poisoned_trainer(recovery_config(), &scale);
    let s3 = scale.clone();
    let mut data = Source::new(false);
    // From the 6th batch on, every iteration diverges (beyond max_abs_energy).
    data.hook = Box::new(move |call| s3.set(if call >= 6 { 1e9 } else { 1.0 }));
    let dir = tempfile::tempdir().unwrap();
    let opts = TrainOptions {
        checkpoint_dir: Some(dir.path()),
        ..Default::default()
    };
    let mut rec = Recorder::default();
    match t.train(&mut data, &opts, &mut rec) {
        Err(Error::Diverged { iteration, what }) => {
            assert_eq!(iteration, 4, "diverged right after the rollback to 4");
            assert!(what.contains("gave up after 2 attempt(s)"), "{what}");
            assert_eq!(what.matches("lr ").count(), 2, "{what}");
        }
        other => panic!("expected the typed error, got {other:?}"),
    }
    assert_eq!(rec.events.len(), 2);
    assert_eq!(rec.events[1].lr, 0.25 * recovery_config().lr);
    let ckpt = jem_train::checkpoint::resolve(dir.path()).unwrap();
    assert!(ckpt.ends_with("ckpt-00000004"), "{}", ckpt.display());
    let s4 = scale.clone();
    s4.set(1.0);
    let resumed = Trainer::resume(
        dir.path(),
        Device::Cpu,
        move |p: &nn::Path| Poisoned {
            inner: build(p),
            scale: s4.clone(),
        },
        &Overrides::default(),
    )
    .unwrap();
    assert_eq!(resumed.iteration(), 4);
}

/// The energy-gap test: a gap beyond the limit for `patience` iterations is a divergence
/// (recovered when recovery is on, the typed error otherwise).
#[test]
fn a_persistent_energy_gap_counts_as_divergence() {
    let _rng = rng_lock();
    let cfg = TrainConfig {
        recovery: jem_train::RecoveryConfig {
            enabled: false,
            max_energy_gap: 1e-9,
            energy_gap_patience: 3,
            ..Default::default()
        },
        ..recovery_config()
    };
    let mut t = new_trainer(cfg);
    match t.train(
        &mut Source::new(false),
        &TrainOptions::default(),
        &mut Silent,
    ) {
        Err(Error::Diverged { iteration, what }) => {
            assert_eq!(iteration, 2, "the third iteration in a row");
            assert!(what.contains("energy gap"), "{what}");
        }
        other => panic!("expected divergence, got {other:?}"),
    }
}

/// A corrupt newest checkpoint: resume names it, falls back to the older complete one, and
/// leaves the corrupt file as it was. A run folder holding `checkpoints/` is accepted too.
#[test]
fn resume_falls_back_past_a_corrupt_checkpoint() {
    let _rng = rng_lock();
    let run_dir = tempfile::tempdir().unwrap();
    let dir = run_dir.path().join("checkpoints");
    let mut t = new_trainer(tiny_config());
    run(&mut t, Some(&dir), false);
    let newest = dir.join("ckpt-00000006").join("model.safetensors");
    let bytes = std::fs::read(&newest).unwrap();
    std::fs::write(&newest, &bytes[..bytes.len() / 3]).unwrap();
    let corrupt = std::fs::read(&newest).unwrap();
    let r = Trainer::resume(run_dir.path(), Device::Cpu, build, &Overrides::default()).unwrap();
    assert_eq!(r.iteration(), 3);
    let skipped = r.resume_skipped();
    assert_eq!(skipped.len(), 1);
    assert!(skipped[0].0.ends_with("ckpt-00000006"));
    assert!(
        skipped[0].1.contains("model.safetensors"),
        "{}",
        skipped[0].1
    );
    assert_eq!(
        std::fs::read(&newest).unwrap(),
        corrupt,
        "the corrupt file was touched"
    );
    // Every checkpoint corrupt: the first error.
    let older = dir.join("ckpt-00000003").join("state.json");
    std::fs::write(&older, b"{").unwrap();
    let e = Trainer::resume(&dir, Device::Cpu, build, &Overrides::default())
        .err()
        .unwrap();
    assert!(e.to_string().contains("ckpt-00000006"), "{e}");
}

/// A checkpoint that cannot be written (its temporary folder's name is taken by a file, so
/// the writer fails as on a full or read-only disk): training stops with an error naming the
/// path and the cause, and the previous checkpoint stays loadable.
#[test]
fn a_failing_checkpoint_write_keeps_the_previous_one() {
    let _rng = rng_lock();
    let dir = tempfile::tempdir().unwrap();
    let blocker = dir
        .path()
        .join(format!(".tmp-ckpt-00000006-{}", std::process::id()));
    std::fs::write(&blocker, b"in the way").unwrap();
    let mut t = new_trainer(tiny_config());
    let mut data = Source::new(false);
    let opts = TrainOptions {
        checkpoint_dir: Some(dir.path()),
        ..Default::default()
    };
    match t.train(&mut data, &opts, &mut Silent) {
        Err(e @ Error::File { .. }) => {
            let msg = e.to_string();
            assert!(msg.contains(".tmp-ckpt-00000006"), "{msg}");
            assert!(e.io_kind().is_some(), "{msg}");
        }
        other => panic!("expected a file error, got {other:?}"),
    }
    let r = Trainer::resume(dir.path(), Device::Cpu, build, &Overrides::default()).unwrap();
    assert_eq!(r.iteration(), 3);
    assert!(r.resume_skipped().is_empty());
}

/// With recovery on, a persistent energy gap rolls back to a snapshot taken before the gap
/// opened (no snapshot is taken while the gap is beyond its limit).
#[test]
fn a_gap_rollback_goes_back_to_before_the_gap() {
    let _rng = rng_lock();
    let scale = Rc::new(Cell::new(1.0));
    let cfg = TrainConfig {
        iterations: 20,
        recovery: jem_train::RecoveryConfig {
            enabled: true,
            snapshot_every: 2,
            max_recoveries: 1,
            max_energy_gap: 1e3,
            energy_gap_patience: 5,
            ..Default::default()
        },
        max_abs_energy: 0.0,
        ..tiny_config()
    };
    let mut t = poisoned_trainer(cfg, &scale);
    let s3 = scale.clone();
    let mut data = Source::new(false);
    // From batch 7 to 11 the energies are scaled up: a gap beyond 1e3 for 5 iterations.
    data.hook = Box::new(move |call| s3.set(if (7..12).contains(&call) { 1e6 } else { 1.0 }));
    let mut rec = Recorder::default();
    let (_, summary) = t
        .train(&mut data, &TrainOptions::default(), &mut rec)
        .unwrap();
    assert_eq!(summary.iterations, 20);
    assert_eq!(rec.events.len(), 1, "{:?}", rec.events);
    let e = &rec.events[0];
    assert!(e.cause.contains("energy gap"), "{}", e.cause);
    assert_eq!(e.iteration, 11, "the fifth iteration of the streak");
    assert!(
        e.rolled_back_to <= 7,
        "rolled back to {}, inside the streak",
        e.rolled_back_to
    );
}

/// `energy_gap_from` leaves a warm-up unchecked: the poisoned gap of iterations 7–11 (five,
/// the patience) rolls the run back when the check starts at 0 or 7, and is ignored when it
/// starts at 8 (four iterations of the streak counted) or 12.
#[test]
fn the_gap_check_starts_at_energy_gap_from() {
    let _rng = rng_lock();
    for (from, want) in [(0usize, 1usize), (7, 1), (8, 0), (12, 0)] {
        let scale = Rc::new(Cell::new(1.0));
        let cfg = TrainConfig {
            iterations: 20,
            recovery: jem_train::RecoveryConfig {
                enabled: true,
                snapshot_every: 2,
                max_recoveries: 1,
                max_energy_gap: 1e3,
                energy_gap_patience: 5,
                energy_gap_from: from,
                ..Default::default()
            },
            max_abs_energy: 0.0,
            ..tiny_config()
        };
        let mut t = poisoned_trainer(cfg, &scale);
        let s3 = scale.clone();
        let mut data = Source::new(false);
        data.hook = Box::new(move |call| s3.set(if (7..12).contains(&call) { 1e6 } else { 1.0 }));
        let mut rec = Recorder::default();
        t.train(&mut data, &TrainOptions::default(), &mut rec)
            .unwrap();
        assert_eq!(rec.events.len(), want, "from {from}: {:?}", rec.events);
    }
}

/// The collapse detector follows the L2 penalty: with no absolute limit, a gap beyond half its
/// bound `1/l2_energy` for `patience` iterations is a collapse, named with its share of the
/// bound; the recovery raises the penalty to `min_l2_energy` and re-initialises the share of
/// the buffer asked for. The same run without the poison has no recovery (no false alarm).
#[test]
fn a_gap_at_the_penalty_bound_is_a_collapse_whatever_the_penalty() {
    let _rng = rng_lock();
    let cfg = |_: ()| TrainConfig {
        iterations: 16,
        l2_energy: 1e-4,
        recovery: jem_train::RecoveryConfig {
            enabled: true,
            snapshot_every: 2,
            max_recoveries: 1,
            max_energy_gap: 0.0,
            max_gap_fraction: 0.5,
            energy_gap_patience: 3,
            min_l2_energy: 2e-4,
            reinit_buffer: 0.5,
            ..Default::default()
        },
        max_abs_energy: 0.0,
        ..tiny_config()
    };
    assert_eq!(cfg(()).recovery.gap_limit(1e-4), Some(5e3));
    assert_eq!(cfg(()).recovery.gap_limit(0.0), None);
    // Healthy: no recovery.
    let scale = Rc::new(Cell::new(1.0));
    let mut t = poisoned_trainer(cfg(()), &scale);
    let mut rec = Recorder::default();
    t.train(&mut Source::new(false), &TrainOptions::default(), &mut rec)
        .unwrap();
    assert!(rec.events.is_empty(), "false alarm: {:?}", rec.events);
    // From batch 7 to 9 the energies are scaled by 1e7: |gap| far beyond 5e3 for 3 iterations.
    let mut t = poisoned_trainer(cfg(()), &scale);
    let s2 = scale.clone();
    let mut data = Source::new(false);
    data.hook = Box::new(move |call| s2.set(if (7..10).contains(&call) { 1e7 } else { 1.0 }));
    let mut rec = Recorder::default();
    let (_, summary) = t
        .train(&mut data, &TrainOptions::default(), &mut rec)
        .unwrap();
    assert_eq!(summary.iterations, 16);
    assert_eq!(rec.events.len(), 1, "{:?}", rec.events);
    let e = &rec.events[0];
    assert!(e.cause.contains("of its bound 1/l2_energy"), "{}", e.cause);
    assert!(e.rolled_back_to <= 7, "rolled back to {}", e.rolled_back_to);
    assert_eq!(e.l2_energy, 2e-4);
    assert!(e.remedy.contains("50 % of the buffer"), "{}", e.remedy);
    assert_eq!(t.config().l2_energy, 2e-4);
}

/// A data source whose label layout differs from the model's — `[3, 2]` against `[2, 3]`, both
/// five columns wide — is refused before the first iteration, with both layouts named.
#[test]
fn a_data_source_with_another_label_layout_is_refused() {
    let _rng = rng_lock();
    let mut t = new_trainer(tiny_config());
    let mut data = Source::new(false);
    data.layout = YLayout::categorical(vec![3, 2]).unwrap();
    let err = t
        .train(&mut data, &TrainOptions::default(), &mut Silent)
        .err()
        .unwrap()
        .to_string();
    assert!(
        err.contains("[3, 2]") && err.contains("[2, 3]"),
        "the error should name both layouts: {err}"
    );
    assert_eq!(t.iteration(), 0);
}

#[test]
fn complete_rows_are_not_imputed() {
    // Imputation runs on the rows with a hidden label only: a batch whose observed mask is all
    // true trains exactly as the same batch without one, and hiding labels changes the step.
    let _rng = rng_lock();
    let (x, y, _) = batch(0, 16, false);
    let all = Tensor::ones([16, 2], (Kind::Bool, Device::Cpu));
    let some = all.copy();
    let _ = some.get(3).get(1).fill_(0);
    let trained = |observed: Option<&Tensor>| {
        let mut t = new_trainer(tiny_config());
        t.step(&Batch::partial(&x, &y, observed)).unwrap();
        params(&t)
    };
    let (none, full, hidden) = (trained(None), trained(Some(&all)), trained(Some(&some)));
    assert!(same(&none, &full), "an all-observed mask changed the step");
    assert!(!same(&none, &hidden), "a hidden label changed nothing");
}

/// Bit dropout: with every row's bits dropped the positive phase imputes them from `q₀`, so the
/// data's bits no longer enter the step (two batches that differ in their bits only train
/// alike); without it they do. Refused for a layout without bits and outside [0, 1]; the
/// objective names it.
#[test]
fn bit_dropout_imputes_the_data_bits() {
    let _rng = rng_lock();
    let bit_layout = || YLayout::new(vec![2], 3).unwrap();
    let (x, _, _) = batch(0, 16, false);
    let group = Tensor::randint(2, [16, 1], (Kind::Int64, Device::Cpu));
    let with_bits = |bits: Tensor| {
        bit_layout()
            .encode(&Tensor::cat(&[group.shallow_clone(), bits], 1), Kind::Float)
            .unwrap()
    };
    let (y_a, y_b) = (
        with_bits(Tensor::zeros([16, 3], (Kind::Int64, Device::Cpu))),
        with_bits(Tensor::ones([16, 3], (Kind::Int64, Device::Cpu))),
    );
    let trainer = |dropout: f64| {
        Trainer::new(
            TrainConfig {
                bit_dropout: dropout,
                ..tiny_config()
            },
            Device::Cpu,
            |p: &nn::Path| MlpEnergy::new(p, 2, bit_layout(), &[16, 16], Activation::Elu),
            &Batch::labelled(&x, &y_a),
        )
    };
    let trained = |dropout: f64, y: &Tensor| {
        let mut t = trainer(dropout).unwrap();
        t.step(&Batch::labelled(&x, y)).unwrap();
        (params(&t), t.config().objective_summary())
    };
    let ((a, objective), (b, _)) = (trained(1.0, &y_a), trained(1.0, &y_b));
    assert!(same(&a, &b), "the dropped bits still entered the step");
    assert!(objective.contains("bit dropout"), "{objective}");
    assert!(
        !objective.contains("(the paper's objective)"),
        "{objective}"
    );
    let ((a, _), (b, _)) = (trained(0.0, &y_a), trained(0.0, &y_b));
    assert!(
        !same(&a, &b),
        "the data's bits changed nothing without dropout"
    );
    let err = trainer(1.5).err().unwrap().to_string();
    assert!(err.contains("bit_dropout"), "{err}");
    let (x2, y2, _) = batch(0, 16, false);
    let err = Trainer::new(
        TrainConfig {
            bit_dropout: 0.1,
            ..tiny_config()
        },
        Device::Cpu,
        build,
        &Batch::labelled(&x2, &y2),
    )
    .err()
    .unwrap()
    .to_string();
    assert!(err.contains("bit_dropout") && err.contains("no"), "{err}");
}
