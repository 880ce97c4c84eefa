//! A joint energy `f(x, y) = −(x − μ_y)² / 2` over `x ∈ ℝ` and a 3-way label `y` (higher = more
//! probable), so `p(y) = 1/3` and `x | y ~ N(μ_y, 1)`. Sampled with Gibbs-with-Gradients on `y`
//! and MALA on `x` (both exact), then checked against the exact answer: the label frequencies,
//! the class means of `x`, and the energy-based posterior `p(y | x)` at a few points.
//!
//! Then a saved model: a small joint EBM of the same data trained for a few iterations with
//! `jem_train::Trainer`, written to a checkpoint, and loaded back as a `jem_train::JointModel`
//! (no trainer), which must score pairs exactly as the trained EMA model did, predict, and
//! generate samples whose label is the clamped one.
use ebm_core::{FnEnergy, JointState, YLayout};
use mwg::{predict_by_energy, EnumerationConfig, JointSampler, SweepDiagnostics};
use samplers_cont::{Mala, MalaConfig};
use samplers_disc::{Gwg, GwgConfig};
use tch::{Kind, Tensor};

const MU: [f64; 3] = [-2.0, 0.0, 2.0];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    tch::manual_seed(7);
    let layout = YLayout::categorical(vec![3])?;
    let mu = Tensor::from_slice(&MU);
    let energy = FnEnergy::new(layout.clone(), move |x: &Tensor, y: &Tensor| {
        let m = y.to_kind(Kind::Double).mv(&mu); // μ_y, [B]
        let d = x.to_kind(Kind::Double).squeeze_dim(1) - m;
        (&d * &d) * -0.5
    });

    // Joint samples: 4 000 chains from a bad start (every chain at x = 5, y = 0), 400 sweeps.
    let n = 4_000;
    let x0 = Tensor::full([n, 1], 5.0, (Kind::Double, tch::Device::Cpu));
    let y0 = layout.encode(
        &Tensor::zeros([n, 1], (Kind::Int64, tch::Device::Cpu)),
        Kind::Double,
    )?;
    let sampler = JointSampler::new(
        Gwg::new(GwgConfig::default())?,
        Mala::new(MalaConfig::from_noise_scale(0.8))?,
    );
    let mut diagnostics = SweepDiagnostics::default();
    let state = JointState::new(&energy, &x0, &y0)?;
    let state = sampler.run(&energy, state, 400, &mut diagnostics)?;
    let y = layout.decode(state.y()).squeeze_dim(1);
    let x = state.x().squeeze_dim(1);

    let mut worst = 0.0f64;
    println!("label  frequency (exact 0.333)  mean of x (exact μ)");
    for (k, mu_k) in MU.iter().enumerate() {
        let m = y.eq(k as i64);
        let count = m.sum(Kind::Double).double_value(&[]);
        let freq = count / n as f64;
        let mean = x.masked_select(&m).mean(Kind::Double).double_value(&[]);
        println!("{k:>5}  {freq:>25.3}  {mean:>9.3} ({mu_k:+.1})");
        worst = worst
            .max((freq - 1.0 / 3.0).abs() / 0.05)
            .max((mean - mu_k).abs() / 0.15);
    }

    // Energy-based posterior at x = −2, 0, 2 against the closed form.
    let xs = Tensor::from_slice(&[-2.0f64, 0.0, 2.0]).unsqueeze(1);
    let p = predict_by_energy(&energy, &xs, None, &EnumerationConfig::default())?;
    let post = p.log_posterior.exp();
    for (i, xi) in [-2.0f64, 0.0, 2.0].iter().enumerate() {
        let w: Vec<f64> = MU
            .iter()
            .map(|m| (-(xi - m) * (xi - m) / 2.0).exp())
            .collect();
        let z: f64 = w.iter().sum();
        for (c, wc) in w.iter().enumerate() {
            let got = post.double_value(&[i as i64, c as i64]);
            worst = worst.max((got - wc / z).abs() / 1e-9);
        }
    }
    println!(
        "mean acceptance: y {:.2} (rate), x {:.2} (probability)",
        diagnostics.summary().accept_rate_y,
        diagnostics.summary().accept_prob_x
    );
    if worst > 1.0 {
        return Err(format!(
            "samples disagree with the exact answer (worst ratio to tolerance {worst:.2})"
        )
        .into());
    }
    saved_model()?;
    println!("downstream-example: OK (worst ratio to tolerance {worst:.2})");
    Ok(())
}

/// `n` draws of `(x, y)`: `y` uniform over the three classes, `x | y ~ N(μ_y, 1)`.
fn draw(layout: &YLayout, n: i64) -> ebm_core::Result<(Tensor, Tensor)> {
    let k = Tensor::randint(3, [n, 1], (Kind::Int64, tch::Device::Cpu));
    let mu = Tensor::from_slice(&MU).to_kind(Kind::Float);
    let x = mu.index_select(0, &k.squeeze_dim(1)).unsqueeze(1)
        + Tensor::randn([n, 1], (Kind::Float, tch::Device::Cpu));
    Ok((x, layout.encode(&k, Kind::Float)?))
}

struct Draws(YLayout);

impl ebm_core::DataSource for Draws {
    fn y_layout(&self) -> &YLayout {
        &self.0
    }
    fn x_shape(&self) -> Vec<i64> {
        vec![1]
    }
    fn next_batch(&mut self, n: i64, _: tch::Device) -> ebm_core::Result<ebm_core::Batch> {
        let (x, y) = draw(&self.0, n)?;
        Ok(ebm_core::Batch {
            x,
            y,
            observed: None,
        })
    }
    fn test_set(&mut self, max: i64, device: tch::Device) -> ebm_core::Result<ebm_core::Batch> {
        self.next_batch(max.min(64), device)
    }
}

fn saved_model() -> Result<(), Box<dyn std::error::Error>> {
    use jem_train::{
        Activation, Batch, GenerationStart, JointModel, MlpEnergy, Silent, TrainConfig,
        TrainOptions, Trainer,
    };
    let layout = YLayout::categorical(vec![3])?;
    let build = |p: &tch::nn::Path| {
        MlpEnergy::new(
            p,
            1,
            YLayout::categorical(vec![3]).expect("a valid layout"),
            &[32],
            Activation::Elu,
        )
    };
    let config = TrainConfig {
        iterations: 20,
        batch_size: 64,
        warmup_iters: 5,
        sweeps: 5,
        buffer_size: 256,
        eval_every: 0,
        checkpoint_every: 20,
        ..TrainConfig::default()
    };
    let (x, y) = draw(&layout, 64)?;
    let first = Batch::labelled(&x, &y);
    let mut trainer = Trainer::new(config, tch::Device::Cpu, build, &first)?;
    let dir = std::env::temp_dir().join(format!("downstream-model-{}", std::process::id()));
    let options = TrainOptions {
        checkpoint_dir: Some(&dir),
        ..Default::default()
    };
    trainer.train(&mut Draws(layout.clone()), &options, &mut Silent)?;

    let model = JointModel::load(&dir, tch::Device::Cpu, build)?;
    let (xt, yt) = draw(&layout, 32)?;
    let f = model.log_density(&xt, &yt)?;
    let want = tch::no_grad(|| ebm_core::JointEnergy::log_density(trainer.ema_model(), &xt, &yt));
    if !f.equal(&want) {
        return Err("the loaded model scores pairs differently from the trained one".into());
    }
    let p = model.predict_by_energy(&xt)?;
    let (samples, labels) = model.generate(8, &[(0, &[2])], None, GenerationStart::Noise, 10)?;
    if samples.size() != [8, 1]
        || labels.eq(2).all().int64_value(&[]) != 1
        || p.values.size() != [32, 1]
    {
        return Err(
            "the loaded model's predictions or samples have the wrong shape or labels".into(),
        );
    }
    std::fs::remove_dir_all(&dir)?;
    println!("saved model: trained 20 iterations, reloaded without its trainer, same f, predicts and generates");
    Ok(())
}
