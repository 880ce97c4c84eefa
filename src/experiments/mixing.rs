//! Mixing per second of the discrete kernels: Gibbs-with-Gradients, DMALA and exact Gibbs on
//! the same targets, measured the same way.
//!
//! `cargo run --release --example mixing -- [--out-dir docs/figures/mixing] [--seed N] [--quick]`
//! (the example is a `main` over [`run`]).
//!
//! Targets: 10×10 periodic Ising at J = 0.2 and J = 0.44 (100 bits), 10×10 periodic Potts with
//! K = 3 (100 groups of 3), a 3-group × 3-value categorical energy with strong couplings (27
//! states), and a trained toy model's `p(y | x)` (three binary attributes, at 16 data points).
//! For each target and kernel: after a burn-in (DMALA adapts its step size toward acceptance
//! 0.6 there, then freezes it), `chains` chains run `steps` steps; the effective sample size of
//! a statistic (the magnetisation for Ising; a fixed random linear statistic of `y` otherwise)
//! over the wall time of those steps (one thread) is the ESS per second. Where the target can
//! be enumerated, 4 000 chains start from its least probable configuration and the first step
//! at which their empirical distribution is within total variation 0.05 of the exact one is
//! reported. Writes `mixing.json` and `mixing.md` into `--out-dir`
//! (`scripts/plot-mixing.py` draws `mixing.png` from the JSON).
use crate::disc::{Dmala, DmalaConfig, ExactGibbs, Gwg, GwgConfig};
use crate::ebm_core::{
    diagnostics::effective_sample_size, seed_everything, DiscreteKernel, FnEnergy, JointEnergy,
    JointState, YLayout,
};
use crate::mwg::{predict_by_energy, EnumerationConfig};
use crate::tch::{self, Device, Kind, Tensor};
use anyhow::{Context, Result};
use ebm_data::{DataSource, EightGaussians};
use jem_train::{presets, Batch, Silent, TrainOptions, Trainer};
use serde::Serialize;
use std::path::PathBuf;
use std::time::Instant;

#[derive(Serialize, Clone)]
struct Row {
    target: String,
    sampler: String,
    ess_per_second: f64,
    ess: f64,
    seconds: f64,
    steps: usize,
    chains: i64,
    accept_rate: f64,
    /// DMALA's step size after burn-in adaptation.
    step_size: Option<f64>,
    /// First step with TV ≤ 0.05 from the least probable configuration (enumerable targets).
    steps_to_tv_005: Option<usize>,
    /// Seconds to that step.
    seconds_to_tv_005: Option<f64>,
}

struct Settings {
    out: PathBuf,
    chains: i64,
    steps: usize,
    burn_in: usize,
    tv_chains: i64,
    tv_max_steps: usize,
    toy_iterations: usize,
    seed: u64,
}

/// The study's command line.
#[derive(clap::Parser, Debug)]
#[command(about = "Mixing per second of GWG, DMALA and exact Gibbs on the same targets")]
pub struct Args {
    /// Where `mixing.json` and `mixing.md` are written.
    #[arg(long, default_value = "docs/figures/mixing")]
    pub out_dir: PathBuf,
    /// Seed of the targets' draws and the chains.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Small settings for a smoke test (16 chains, 100 steps, a 4-iteration toy model).
    #[arg(long)]
    pub quick: bool,
}

impl From<&Args> for Settings {
    fn from(a: &Args) -> Self {
        let full = Settings {
            out: a.out_dir.clone(),
            chains: 64,
            steps: 2000,
            burn_in: 500,
            tv_chains: 4000,
            tv_max_steps: 2000,
            toy_iterations: 300,
            seed: a.seed,
        };
        if a.quick {
            Settings {
                chains: 16,
                steps: 100,
                burn_in: 20,
                tv_chains: 200,
                tv_max_steps: 30,
                toy_iterations: 4,
                ..full
            }
        } else {
            full
        }
    }
}

/// The three kernels compared; DMALA's step size is adapted during burn-in.
#[derive(Clone)]
enum Kernel {
    Gwg(Gwg),
    Dmala(Dmala),
    Gibbs,
}

impl Kernel {
    fn all() -> Vec<Kernel> {
        vec![
            Kernel::Gwg(Gwg::new(GwgConfig::default()).expect("valid")),
            Kernel::Dmala(Dmala::new(DmalaConfig::default()).expect("valid")),
            Kernel::Gibbs,
        ]
    }
    fn name(&self) -> &'static str {
        match self {
            Kernel::Gwg(_) => "gwg",
            Kernel::Dmala(_) => "dmala",
            Kernel::Gibbs => "gibbs",
        }
    }
    fn step<E: JointEnergy + ?Sized>(&self, e: &E, s: JointState) -> Result<(JointState, f64)> {
        let (s, info) = match self {
            Kernel::Gwg(k) => k.step(e, s)?,
            Kernel::Dmala(k) => k.step(e, s)?,
            Kernel::Gibbs => ExactGibbs.step(e, s)?,
        };
        Ok((s, info.accept_prob.mean(Kind::Double).double_value(&[])))
    }
}

/// A target: the energy, a statistic `[B]` of `y`, and (when enumerable) the exact
/// distribution over `configs` with the conditioning `x`.
struct Target<E> {
    name: String,
    energy: E,
    x: Tensor,
    stat: Box<dyn Fn(&Tensor) -> Tensor>,
    /// `(configurations [C, D] one-hot, probabilities [C])` per conditioning row of `x` (all
    /// rows share one distribution when there is one entry).
    exact: Option<Vec<(Tensor, Vec<f64>)>>,
}

fn periodic_adjacency(side: i64) -> Tensor {
    let n = side * side;
    let mut a = vec![0f64; (n * n) as usize];
    for r in 0..side {
        for c in 0..side {
            let i = r * side + c;
            for (dr, dc) in [(0, 1), (1, 0)] {
                let j = ((r + dr) % side) * side + (c + dc) % side;
                a[(i * n + j) as usize] = 1.0;
                a[(j * n + i) as usize] = 1.0;
            }
        }
    }
    Tensor::from_slice(&a).view([n, n])
}

fn ising(side: i64, j: f64) -> Result<Target<impl JointEnergy>> {
    let a = periodic_adjacency(side);
    let n = side * side;
    let energy = FnEnergy::new(
        YLayout::binary(n as usize)?,
        move |_x: &Tensor, y: &Tensor| {
            let s = y * 2.0 - 1.0;
            (s.matmul(&a) * &s).sum_dim_intlist([1i64].as_slice(), false, Kind::Double) * (j / 2.0)
        },
    );
    Ok(Target {
        name: format!("Ising {side}x{side} J={j}"),
        energy,
        x: Tensor::zeros([1, 1], (Kind::Double, Device::Cpu)),
        stat: Box::new(move |y: &Tensor| {
            (y * 2.0 - 1.0).mean_dim([1i64].as_slice(), false, Kind::Double)
        }),
        exact: None,
    })
}

fn potts(side: i64, k: i64, j: f64) -> Result<Target<impl JointEnergy>> {
    let a = periodic_adjacency(side);
    let n = side * side;
    let energy = FnEnergy::new(
        YLayout::categorical(vec![k as usize; n as usize])?,
        move |_x: &Tensor, y: &Tensor| {
            let b = y.size()[0];
            let yy = y.view([b, n, k]);
            let ay = a.matmul(&yy); // [B, n, K]
            (ay * &yy).sum_dim_intlist([1i64, 2].as_slice(), false, Kind::Double) * (j / 2.0)
        },
    );
    let w = Tensor::randn([n * k], (Kind::Double, Device::Cpu));
    Ok(Target {
        name: format!("Potts {side}x{side} K={k} J={j}"),
        energy,
        x: Tensor::zeros([1, 1], (Kind::Double, Device::Cpu)),
        stat: Box::new(move |y: &Tensor| y.mv(&w)),
        exact: None,
    })
}

/// All configurations of `layout` (one-hot `[C, D]`) and `softmax(f)` over them, at `x` `[1, …]`.
fn enumerate<E: JointEnergy>(energy: &E, x: &Tensor) -> Result<Vec<(Tensor, Vec<f64>)>> {
    let p = predict_by_energy(energy, x, None, &EnumerationConfig::default())?;
    let layout = energy.y_layout();
    let configs = layout.encode(&p.configurations, Kind::Double)?;
    let rows = x.size()[0];
    (0..rows)
        .map(|r| {
            let probs = Vec::<f64>::try_from(p.log_posterior.get(r).exp().to_kind(Kind::Double))?;
            Ok((configs.shallow_clone(), probs))
        })
        .collect()
}

fn strong_categorical() -> Result<Target<impl JointEnergy>> {
    let layout = YLayout::categorical(vec![3, 3, 3])?;
    let d = 9;
    let mut w = Tensor::randn([d, d], (Kind::Double, Device::Cpu)) * 2.0;
    w = (&w + w.tr()) / 2.0;
    // No couplings within a group.
    for g in 0..3 {
        let _ = w.narrow(0, 3 * g, 3).narrow(1, 3 * g, 3).fill_(0.0);
    }
    let b = Tensor::randn([d], (Kind::Double, Device::Cpu));
    let energy = FnEnergy::new(layout, move |_x: &Tensor, y: &Tensor| {
        (y.matmul(&w) * y).sum_dim_intlist([1i64].as_slice(), false, Kind::Double) / 2.0 + y.mv(&b)
    });
    let x = Tensor::zeros([1, 1], (Kind::Double, Device::Cpu));
    let exact = enumerate(&energy, &x)?;
    let v = Tensor::randn([d], (Kind::Double, Device::Cpu));
    Ok(Target {
        name: "categorical 3 groups x 3, strong couplings".into(),
        energy,
        x,
        stat: Box::new(move |y: &Tensor| y.mv(&v)),
        exact: Some(exact),
    })
}

/// `p(y | x)` of a toy model trained for `iterations` iterations of the default preset, at 4
/// test points (the chains run in the model's float32).
fn toy(iterations: usize) -> Result<Target<impl JointEnergy>> {
    let mut config = presets::toy::default();
    config.iterations = iterations;
    config.eval_every = 0;
    let mut data = EightGaussians::new(0.0, Kind::Float)?;
    let first = data.next_batch(config.batch_size, Device::Cpu)?;
    let mut t = Trainer::new(
        config,
        Device::Cpu,
        presets::toy::energy,
        &Batch::labelled(&first.x, &first.y),
    )?;
    eprintln!("mixing: training the toy model for {iterations} iterations …");
    t.train(&mut data, &TrainOptions::default(), &mut Silent)?;
    let x = data.test_set(4, Device::Cpu)?.x;
    let model = TrainedEma(t);
    let exact = enumerate(&model, &x)?;
    let v = Tensor::randn([6], (Kind::Float, Device::Cpu));
    Ok(Target {
        name: "toy p(y|x) (trained, 4 points)".into(),
        energy: model,
        x,
        stat: Box::new(move |y: &Tensor| y.mv(&v).to_kind(Kind::Double)),
        exact: Some(exact),
    })
}

/// The EMA model of a trainer as an energy.
struct TrainedEma(Trainer<jem_train::MlpEnergy>);

impl JointEnergy for TrainedEma {
    fn y_layout(&self) -> &YLayout {
        self.0.ema_model().y_layout()
    }
    fn features(&self, x: &Tensor) -> Option<Tensor> {
        self.0.ema_model().features(x)
    }
    fn log_density_from_features(&self, h: &Tensor, y: &Tensor) -> Tensor {
        self.0.ema_model().log_density_from_features(h, y)
    }
}

/// `chains` copies of each conditioning row of `x` (row-major: all chains of row 0 first).
fn repeat_x(x: &Tensor, chains: i64) -> Tensor {
    x.repeat_interleave_self_int(chains, Some(0), None)
}

fn measure<E: JointEnergy>(t: &Target<E>, kernel: &Kernel, s: &Settings) -> Result<Row> {
    let layout = t.energy.y_layout().clone();
    let rows = t.x.size()[0];
    let per_row = (s.chains / rows).max(1);
    let x = repeat_x(&t.x, per_row);
    let b = x.size()[0];
    let kind = x.kind();
    let y0 = crate::ebm_core::YInit::Uniform.sample(&layout, b, Device::Cpu, kind)?;
    let mut state = JointState::new(&t.energy, &x, &y0)?;
    let mut k = kernel.clone();
    // Burn-in (DMALA adapts its step size toward acceptance 0.6 here, then freezes it).
    for _ in 0..s.burn_in {
        let (next, acc) = k.step(&t.energy, state)?;
        state = next;
        if let Kernel::Dmala(d) = &mut k {
            d.adapt_step_size(acc, 0.6, 0.05);
        }
    }
    let mut trace: Vec<Tensor> = Vec::with_capacity(s.steps);
    let mut acc_sum = 0.0;
    let started = Instant::now();
    for _ in 0..s.steps {
        let (next, acc) = k.step(&t.energy, state)?;
        state = next;
        acc_sum += acc;
        trace.push((t.stat)(state.y()));
    }
    let seconds = started.elapsed().as_secs_f64();
    let trace = Tensor::stack(&trace, 1).to_kind(Kind::Double); // [B, T]
    let chains: Vec<Vec<f64>> = (0..b)
        .map(|c| Vec::<f64>::try_from(trace.get(c)))
        .collect::<std::result::Result<_, _>>()?;
    // One ESS per conditioning row (each row is its own target), summed.
    let ess: f64 = chains
        .chunks(per_row as usize)
        .map(effective_sample_size)
        .sum();
    let mut row = Row {
        target: t.name.clone(),
        sampler: kernel.name().into(),
        ess_per_second: ess / seconds,
        ess,
        seconds,
        steps: s.steps,
        chains: b,
        accept_rate: acc_sum / s.steps as f64,
        step_size: match &k {
            Kernel::Dmala(d) => Some(d.config().step_size),
            _ => None,
        },
        steps_to_tv_005: None,
        seconds_to_tv_005: None,
    };
    if let Some(exact) = &t.exact {
        let (steps, secs) = steps_to_tv(t, &k, exact, s)?;
        row.steps_to_tv_005 = steps;
        row.seconds_to_tv_005 = secs;
    }
    Ok(row)
}

/// Chains from the least probable configuration of each conditioning row: the first step at
/// which the mean (over rows) TV of their empirical distribution to the exact one is ≤ 0.05.
fn steps_to_tv<E: JointEnergy>(
    t: &Target<E>,
    k: &Kernel,
    exact: &[(Tensor, Vec<f64>)],
    s: &Settings,
) -> Result<(Option<usize>, Option<f64>)> {
    let rows = t.x.size()[0];
    let per_row = s.tv_chains;
    let x = repeat_x(&t.x, per_row);
    let starts: Vec<Tensor> = exact
        .iter()
        .map(|(configs, p)| {
            let worst = p
                .iter()
                .enumerate()
                .min_by(|a, b| a.1.total_cmp(b.1))
                .map_or(0, |(i, _)| i);
            configs.get(worst as i64).unsqueeze(0).repeat([per_row, 1])
        })
        .collect();
    let y0 = Tensor::cat(&starts, 0).to_kind(x.kind());
    let mut state = JointState::new(&t.energy, &x, &y0)?;
    let configs = &exact[0].0; // [C, D], the same enumeration for every row
    let started = Instant::now();
    for step in 1..=s.tv_max_steps {
        state = k.step(&t.energy, state)?.0;
        // Configuration index of every chain: match against the enumeration.
        let idx = state
            .y()
            .to_kind(Kind::Double)
            .matmul(&configs.tr())
            .argmax(1, false); // one-hot rows: the exact match has the largest dot product
        let idx = Vec::<i64>::try_from(idx)?;
        let mut tv = 0.0;
        for (r, (_, p)) in exact.iter().enumerate() {
            let mut counts = vec![0f64; p.len()];
            for &i in &idx[r * per_row as usize..(r + 1) * per_row as usize] {
                counts[i as usize] += 1.0;
            }
            tv += 0.5
                * counts
                    .iter()
                    .zip(p)
                    .map(|(c, q)| (c / per_row as f64 - q).abs())
                    .sum::<f64>();
        }
        if tv / rows as f64 <= 0.05 {
            return Ok((Some(step), Some(started.elapsed().as_secs_f64())));
        }
    }
    Ok((None, None))
}

/// Runs the study as `args` say (what the example's `main` does).
pub fn run(args: Args) -> Result<()> {
    let s = Settings::from(&args);
    tch::set_num_threads(1);
    crate::ebm_core::keep_freed_memory();
    std::fs::create_dir_all(&s.out)
        .with_context(|| format!("cannot create {}", s.out.display()))?;
    let mut rows = Vec::new();
    let mut record = |r: Row| {
        eprintln!(
            "{:<44} {:<6} ESS/s {:>10.1}  accept {:.3}  tv≤0.05 at {:?} steps",
            r.target, r.sampler, r.ess_per_second, r.accept_rate, r.steps_to_tv_005
        );
        rows.push(r);
    };
    macro_rules! measure {
        ($target:expr) => {{
            let t = $target;
            for k in Kernel::all() {
                seed_everything(7 + s.seed);
                record(measure(&t, &k, &s)?);
            }
        }};
    }
    seed_everything(1 + s.seed);
    measure!(ising(10, 0.2)?);
    measure!(ising(10, 0.44)?);
    measure!(potts(10, 3, 1.0)?);
    measure!(strong_categorical()?);
    measure!(toy(s.toy_iterations)?);

    let json = serde_json::to_string_pretty(&rows)?;
    std::fs::write(s.out.join("mixing.json"), json)?;
    let mut md = String::from(
        "| target | sampler | ESS / s | ESS | s | accept | DMALA α | steps to TV ≤ 0.05 | s to TV ≤ 0.05 |\n| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n",
    );
    for r in &rows {
        let opt = |v: Option<f64>, p: usize| v.map_or("–".to_string(), |v| format!("{v:.p$}"));
        md.push_str(&format!(
            "| {} | {} | {:.1} | {:.0} | {:.2} | {:.3} | {} | {} | {} |\n",
            r.target,
            r.sampler,
            r.ess_per_second,
            r.ess,
            r.seconds,
            r.accept_rate,
            opt(r.step_size, 3),
            r.steps_to_tv_005
                .map_or("> max".to_string(), |v| v.to_string()),
            opt(r.seconds_to_tv_005, 2),
        ));
    }
    std::fs::write(s.out.join("mixing.md"), &md)?;
    println!("{md}");
    println!("written to {}", s.out.display());
    Ok(())
}
