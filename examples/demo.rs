//! Sampling demo on a joint model whose answers are known exactly (a Gaussian class-conditional
//! model with two label groups): joint sampling, prediction both ways, and conditional
//! generation, each compared with the exact value.
//!
//! `cargo run --release --example demo -- [--device auto|cpu|cuda] [--chains N] [--sweeps N] [--seed N]`
use anyhow::Result;
use clap::Parser;
use joint_ebm::cont::{Langevin, LangevinConfig, Mala, MalaConfig};
use joint_ebm::disc::{Gwg, GwgConfig};
use joint_ebm::ebm_core::{seed_everything, DeviceChoice, JointState, YInit};
use joint_ebm::mwg::{
    accuracy, oracle::demo_oracle, predict_by_energy, predict_by_sampling, EnumerationConfig,
    JointSampler, SamplePredictionConfig, SweepDiagnostics,
};
use joint_ebm::tch::{Kind, Tensor};
use std::time::Instant;

/// The demo's command line.
#[derive(Parser, Debug)]
#[command(about = "Sampling demo on a joint model whose answers are known exactly")]
struct Args {
    /// auto | cpu | cuda.
    #[arg(long, default_value = "auto")]
    device: DeviceChoice,
    /// Chains per experiment.
    #[arg(long, default_value_t = 2000, value_parser = clap::value_parser!(i64).range(1..))]
    chains: i64,
    /// Sweeps per chain.
    #[arg(long, default_value_t = 300, value_parser = clap::value_parser!(u64).range(1..))]
    sweeps: u64,
    /// Seed of torch's generator.
    #[arg(long, default_value_t = 0)]
    seed: u64,
}

fn main() -> Result<()> {
    let args = Args::parse();
    let sweeps = args.sweeps as usize;
    let device = args.device.resolve()?;
    seed_everything(args.seed);
    let model = demo_oracle(device)?;
    let layout = joint_ebm::ebm_core::JointEnergy::y_layout(&model).clone();
    println!(
        "model: Gaussian class-conditional, groups {:?}, x in R^2, device {device:?}",
        layout.groups()
    );

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
    println!(
        "\n1. joint sampling, {} chains x {} sweeps (class frequencies vs the exact p(y))",
        args.chains, args.sweeps
    );
    for (name, run) in [
        ("GWG+MALA (exact)", 0),
        ("GWG+Langevin (paper, eps=0.1, lambda=0.5)", 1),
    ] {
        let t = Instant::now();
        let state = JointState::new(&model, &x0, &y0)?;
        let mut diag = SweepDiagnostics::default();
        let state = if run == 0 {
            exact.run(&model, state, sweeps, &mut diag)?
        } else {
            paper.run(&model, state, sweeps, &mut diag)?
        };
        let classes = model.class_indicator(state.y()).argmax(1, false);
        let freq = classes
            .one_hot(model.num_classes())
            .to_kind(Kind::Double)
            .mean_dim([0i64].as_slice(), false, None);
        let tv = f64::try_from((&freq - &exact_classes).abs().sum(Kind::Double))? / 2.0;
        let s = diag.summary();
        println!(
            "   {name:<44} TV(class freq, p(y)) = {tv:.3}   GWG accept {:.2}   x accept {:.2}   {:.2}s",
            s.accept_rate_y, s.accept_prob_x, t.elapsed().as_secs_f64()
        );
    }

    // 2. Prediction of y from x on exact draws: energy-based vs the Bayes classifier.
    let (x_test, classes) = model.sample(1000);
    let y_test = model.labels_of(&classes)?;
    let truth = layout.decode(&y_test);
    let bayes = model.class_scores(&x_test).argmax(1, false);
    let bayes_values = layout.decode(&model.labels_of(&bayes)?);
    let t = Instant::now();
    let by_energy = predict_by_energy(&model, &x_test, None, &EnumerationConfig::default())?;
    let e_time = t.elapsed().as_secs_f64();
    let t = Instant::now();
    let by_sampling = predict_by_sampling(
        &model,
        &Gwg::new(GwgConfig::default())?,
        &x_test,
        None,
        &SamplePredictionConfig::default(),
    )?;
    let s_time = t.elapsed().as_secs_f64();
    println!("\n2. prediction of both groups from x, 1000 exact draws");
    println!(
        "   Bayes classifier accuracy          {:.3}",
        accuracy(&bayes_values, &truth, None)?
    );
    println!(
        "   energy-based accuracy              {:.3}  (agrees with Bayes on {:.3})  {e_time:.2}s",
        accuracy(&by_energy.values, &truth, None)?,
        accuracy(&by_energy.values, &bayes_values, None)?
    );
    println!(
        "   sample-based accuracy (10x200 GWG) {:.3}  {s_time:.2}s",
        accuracy(&by_sampling.values, &truth, None)?
    );

    // 3. Conditional generation: x given group 0 = 1 and group 1 = 0 (class 2).
    let fixed = Tensor::from_slice(&[true, true]).to_device(device);
    let target = Tensor::from_slice(&[2i64]).to_device(device);
    let y_cond = model.labels_of(&target)?.repeat([args.chains, 1]);
    let state = JointState::new(&model, &x0, &y_cond)?.with_fixed_y(&fixed)?;
    let mut diag = SweepDiagnostics::default();
    let state = exact.run(&model, state, sweeps, &mut diag)?;
    let mean = Vec::<f64>::try_from(
        state
            .x()
            .mean_dim([0i64].as_slice(), false, None)
            .to_device(joint_ebm::tch::Device::Cpu),
    )?;
    let mu = Vec::<f64>::try_from(model.means.get(2).to_device(joint_ebm::tch::Device::Cpu))?;
    println!("\n3. conditional generation x | y = class 2 (GWG+MALA, labels clamped)");
    println!(
        "   sample mean ({:+.3}, {:+.3})   exact mean ({:+.3}, {:+.3})",
        mean[0], mean[1], mu[0], mu[1]
    );
    Ok(())
}
