//! A tour of the samplers on a joint model whose answers are known exactly (the Gaussian
//! class-conditional [`demo_oracle`]: two label groups `[3, 2]`, `x ∈ ℝ²`): joint sampling with
//! an exact sampler (GWG + MALA) and with the paper's kernel (GWG + Langevin at λ = 0.5, biased
//! by design), prediction both ways against the Bayes classifier, and conditional generation
//! against the exact class mean.
//!
//! `cargo run --release --example demo -- [--device auto|cpu|cuda] [--chains N] [--sweeps N] [--seed N]`
//! (the example prints the [`Report`] of [`run`]).
use crate::cont::{Langevin, LangevinConfig, Mala, MalaConfig};
use crate::disc::{Gwg, GwgConfig};
use crate::ebm_core::{seed_everything, DeviceChoice, JointEnergy, JointState, YInit};
use crate::mwg::{
    accuracy, oracle::demo_oracle, predict_by_energy, predict_by_sampling, EnumerationConfig,
    JointSampler, SamplePredictionConfig, SweepDiagnostics,
};
use crate::tch::{Device, Kind, Tensor};
use anyhow::Result;
use std::fmt;
use std::time::Instant;

/// The demo's command line.
#[derive(clap::Parser, Debug, Clone)]
#[command(about = "Sampling demo on a joint model whose answers are known exactly")]
pub struct Args {
    /// auto | cpu | cuda.
    #[arg(long, default_value = "auto")]
    pub device: DeviceChoice,
    /// Chains per experiment.
    #[arg(long, default_value_t = 2000, value_parser = clap::value_parser!(i64).range(1..))]
    pub chains: i64,
    /// Sweeps per chain.
    #[arg(long, default_value_t = 300, value_parser = clap::value_parser!(u64).range(1..))]
    pub sweeps: u64,
    /// Seed of torch's generator.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
}

/// One joint-sampling run: the total variation between the class frequencies of the chains'
/// final `y` and the exact `p(y)`, the acceptance rates and the wall time.
#[derive(Clone, Debug)]
pub struct JointRun {
    /// The sampler's name.
    pub sampler: &'static str,
    /// Total variation between the chains' class frequencies and the exact `p(y)`.
    pub tv_to_exact: f64,
    /// GWG's acceptance rate on `y`.
    pub accept_rate_y: f64,
    /// Mean acceptance probability of the `x` kernel (1 for Langevin, which has no test).
    pub accept_prob_x: f64,
    /// Wall time of the run.
    pub seconds: f64,
}

/// What the demo measured, each figure beside its exact value.
#[derive(Clone, Debug)]
pub struct Report {
    /// Where it ran.
    pub device: Device,
    /// The label groups' sizes (`[3, 2]`).
    pub groups: Vec<usize>,
    /// Chains per experiment.
    pub chains: i64,
    /// Sweeps per chain.
    pub sweeps: usize,
    /// Part 1, joint sampling: the exact sampler, then the paper's kernel.
    pub joint: Vec<JointRun>,
    /// Part 2, prediction of both groups from `x` on 1 000 exact draws: the Bayes
    /// classifier's accuracy.
    pub bayes_accuracy: f64,
    /// Energy-based prediction's accuracy (by enumeration of `y`).
    pub energy_accuracy: f64,
    /// The share of draws on which energy-based prediction agrees with the Bayes classifier.
    pub energy_agrees_with_bayes: f64,
    /// Wall time of energy-based prediction.
    pub energy_seconds: f64,
    /// Sample-based prediction's accuracy (10 GWG chains × 200 steps per draw).
    pub sample_accuracy: f64,
    /// Wall time of sample-based prediction.
    pub sample_seconds: f64,
    /// Part 3, conditional generation of `x` given class 2 (both groups clamped, GWG + MALA):
    /// the samples' mean.
    pub conditional_mean: [f64; 2],
    /// The exact mean of class 2.
    pub exact_mean: [f64; 2],
}

fn pair(t: &Tensor) -> Result<[f64; 2]> {
    let v = Vec::<f64>::try_from(t.to_device(Device::Cpu).to_kind(Kind::Double))?;
    Ok([v[0], v[1]])
}

/// Runs the three parts of the demo.
pub fn run(args: &Args) -> Result<Report> {
    let sweeps = args.sweeps as usize;
    let device = args.device.resolve()?;
    seed_everything(args.seed);
    let model = demo_oracle(device)?;
    let layout = model.y_layout().clone();

    // 1. Joint sampling with an exact sampler (GWG + MALA) and with the paper's kernel.
    let exact = JointSampler::new(
        Gwg::new(GwgConfig::default())?,
        Mala::new(MalaConfig::from_noise_scale(0.35))?,
    );
    let paper = JointSampler::new(
        Gwg::new(GwgConfig::default())?,
        Langevin::new(LangevinConfig::from_paper(0.1, 0.5))?,
    );
    let x0 = Tensor::rand([args.chains, 2], (Kind::Double, device)) * 6.0 - 3.0;
    let y0 = YInit::Uniform.sample(&layout, args.chains, device, Kind::Double)?;
    let exact_classes = model.log_prior.exp();
    let mut joint = Vec::new();
    for (sampler, is_exact) in [
        ("GWG+MALA (exact)", true),
        ("GWG+Langevin (paper, eps=0.1, lambda=0.5)", false),
    ] {
        let t = Instant::now();
        let state = JointState::new(&model, &x0, &y0)?;
        let mut diag = SweepDiagnostics::default();
        let state = if is_exact {
            exact.run(&model, state, sweeps, &mut diag)?
        } else {
            paper.run(&model, state, sweeps, &mut diag)?
        };
        let classes = model.class_indicator(state.y()).argmax(1, false);
        let freq = classes
            .one_hot(model.num_classes())
            .to_kind(Kind::Double)
            .mean_dim([0i64].as_slice(), false, None);
        let s = diag.summary();
        joint.push(JointRun {
            sampler,
            tv_to_exact: f64::try_from((&freq - &exact_classes).abs().sum(Kind::Double))? / 2.0,
            accept_rate_y: s.accept_rate_y,
            accept_prob_x: s.accept_prob_x,
            seconds: t.elapsed().as_secs_f64(),
        });
    }

    // 2. Prediction of y from x on exact draws: energy-based and sample-based vs Bayes.
    let (x_test, classes) = model.sample(1000);
    let truth = layout.decode(&model.labels_of(&classes)?);
    let bayes = layout.decode(&model.labels_of(&model.class_scores(&x_test).argmax(1, false))?);
    let t = Instant::now();
    let by_energy = predict_by_energy(&model, &x_test, None, &EnumerationConfig::default())?;
    let energy_seconds = t.elapsed().as_secs_f64();
    let t = Instant::now();
    let gwg = Gwg::new(GwgConfig::default())?;
    let by_sampling = predict_by_sampling(
        &model,
        &gwg,
        &x_test,
        None,
        &SamplePredictionConfig::default(),
    )?;
    let sample_seconds = t.elapsed().as_secs_f64();

    // 3. Conditional generation: x given group 0 = 1 and group 1 = 0 (class 2).
    let fixed = Tensor::from_slice(&[true, true]).to_device(device);
    let target = Tensor::from_slice(&[2i64]).to_device(device);
    let y_cond = model.labels_of(&target)?.repeat([args.chains, 1]);
    let state = JointState::new(&model, &x0, &y_cond)?.with_fixed_y(&fixed)?;
    let state = exact.run(&model, state, sweeps, &mut SweepDiagnostics::default())?;

    Ok(Report {
        device,
        groups: layout.groups().to_vec(),
        chains: args.chains,
        sweeps,
        joint,
        bayes_accuracy: accuracy(&bayes, &truth, None)?,
        energy_accuracy: accuracy(&by_energy.values, &truth, None)?,
        energy_agrees_with_bayes: accuracy(&by_energy.values, &bayes, None)?,
        energy_seconds,
        sample_accuracy: accuracy(&by_sampling.values, &truth, None)?,
        sample_seconds,
        conditional_mean: pair(&state.x().mean_dim([0i64].as_slice(), false, None))?,
        exact_mean: pair(&model.means.get(2))?,
    })
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "model: Gaussian class-conditional, groups {:?}, x in R^2, device {:?}",
            self.groups, self.device
        )?;
        writeln!(
            f,
            "\n1. joint sampling, {} chains x {} sweeps (class frequencies vs the exact p(y))",
            self.chains, self.sweeps
        )?;
        for r in &self.joint {
            writeln!(
                f,
                "   {:<44} TV(class freq, p(y)) = {:.3}   GWG accept {:.2}   x accept {:.2}   {:.2}s",
                r.sampler, r.tv_to_exact, r.accept_rate_y, r.accept_prob_x, r.seconds
            )?;
        }
        writeln!(f, "\n2. prediction of both groups from x, 1000 exact draws")?;
        writeln!(
            f,
            "   Bayes classifier accuracy          {:.3}",
            self.bayes_accuracy
        )?;
        writeln!(
            f,
            "   energy-based accuracy              {:.3}  (agrees with Bayes on {:.3})  {:.2}s",
            self.energy_accuracy, self.energy_agrees_with_bayes, self.energy_seconds
        )?;
        writeln!(
            f,
            "   sample-based accuracy (10x200 GWG) {:.3}  {:.2}s",
            self.sample_accuracy, self.sample_seconds
        )?;
        writeln!(
            f,
            "\n3. conditional generation x | y = class 2 (GWG+MALA, labels clamped)"
        )?;
        write!(
            f,
            "   sample mean ({:+.3}, {:+.3})   exact mean ({:+.3}, {:+.3})",
            self.conditional_mean[0],
            self.conditional_mean[1],
            self.exact_mean[0],
            self.exact_mean[1]
        )
    }
}
