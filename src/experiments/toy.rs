//! The paper's toy experiment (§6.1, appendix B.1, Table 1): a joint EBM over points on 8
//! Gaussians and three binary attributes, trained by PCD with the joint GWG + Langevin sampler.
//!
//! `cargo run --release --example toy -- [--preset default|paper] [--out-dir DIR] [--seed N]
//!  [--device auto|cpu|cuda] [--iterations N] [--resume DIR] [--missing-labels FRACTION]`
//!
//! Writes into `--out-dir`: `config.json`, `metrics.jsonl`, `metrics.json`, `checkpoints/`, and
//! the figures `conditional_samples.png` (rows: attributes, columns: values; Figs. 1, 4, 5),
//! `unconditional_samples.png` (Fig. 6), `densities.png` (class-conditional densities,
//! Figs. 7–10).
use crate::cli::{plot, CommonArgs, Experiment, Splits};
use anyhow::Result;
use ebm_core::{seed_everything, JointEnergy};
use ebm_data::{DataSource, EightGaussians};
use jem_train::{presets, Architecture, Judge, MlpEnergy, TrainConfig, Trainer};
use tch::{self, nn, Device, Kind, Tensor};

/// The experiment's command line: the common flags and its own.
#[derive(clap::Parser, Debug)]
#[command(about = "Toy experiment: 8 Gaussians with three binary attributes")]
pub struct Args {
    /// The flags every experiment shares.
    #[command(flatten)]
    pub common: CommonArgs,
    /// Judge samples per attribute value (3 attributes × 2 values).
    #[arg(long, default_value_t = 200)]
    pub judge_per_value: i64,
}

const EXTENT: f64 = 4.5;

/// Test-time samples from noise as host f64 `x` and label values.
fn sample_from_noise(
    t: &Trainer<MlpEnergy>,
    n: i64,
    fixed: Option<(usize, i64)>,
) -> Result<(Tensor, Tensor)> {
    let (x, v) = match fixed {
        Some((var, value)) => t.generate(n, &[(var, &[value])], None)?,
        None => t.generate(n, &[], None)?,
    };
    Ok((
        x.to_device(Device::Cpu).to_kind(Kind::Double),
        v.to_device(Device::Cpu),
    ))
}

fn points(x: &Tensor, colour_of: impl Fn(usize) -> [u8; 3]) -> Result<Vec<(f64, f64, [u8; 3])>> {
    let v = Vec::<f64>::try_from(x.reshape([-1]))?;
    Ok(v.chunks(2)
        .enumerate()
        .map(|(i, p)| (p[0], p[1], colour_of(i)))
        .collect())
}

fn figures(
    t: &Trainer<MlpEnergy>,
    out: &std::path::Path,
    data: &mut EightGaussians,
) -> Result<Vec<String>> {
    // Test-time chains per panel (fewer for the smoke-test preset).
    let n = if jem_train::presets::is_smoke_test(t.config()) {
        20
    } else {
        500
    };
    let size = 240;
    let (data_x, _, _) = data.sample(1000, Device::Cpu)?;
    let background = points(&data_x.to_kind(Kind::Double), |_| [210, 210, 210])?;
    // Conditional samples: one panel per (attribute, value).
    let mut panels = Vec::new();
    for var in 0..3 {
        for value in 0..2 {
            let (x, _) = sample_from_noise(t, n, Some((var, value)))?;
            let mut pts = background.clone();
            pts.extend(points(&x, |_| plot::PALETTE[var * 2 + value as usize])?);
            panels.push(plot::scatter(&pts, EXTENT, size));
        }
    }
    plot::save(
        &plot::grid(&panels, 2, 6),
        &out.join("conditional_samples.png"),
    )?;
    // Unconditional samples coloured by their sampled mode.
    let (x, y) = sample_from_noise(t, 2 * n, None)?;
    let vals = Vec::<i64>::try_from(y.reshape([-1]))?;
    let pts = points(&x, |i| {
        let m =
            EightGaussians::mode_of([vals[3 * i], vals[3 * i + 1], vals[3 * i + 2]]).unwrap_or(7);
        plot::PALETTE[m as usize]
    })?;
    plot::save(
        &plot::grid(&[plot::scatter(&pts, EXTENT, 2 * size)], 1, 6),
        &out.join("unconditional_samples.png"),
    )?;
    // Class-conditional densities exp f(x, y) on a grid, one panel per configuration (mode).
    let g = 120i64;
    let lin = Tensor::linspace(-EXTENT, EXTENT, g, (Kind::Float, t.device()));
    let gx = lin.unsqueeze(0).expand([g, g], false);
    let gy = lin.flip([0]).unsqueeze(1).expand([g, g], false);
    let grid_x = Tensor::stack(&[gx.reshape([-1]), gy.reshape([-1])], 1);
    let layout = t.ema_model().y_layout().clone();
    let mut panels = Vec::new();
    for mode in 0..8 {
        let a = EightGaussians::attributes(mode);
        let y = layout
            .encode(
                &Tensor::from_slice(&a).view([1, 3]).to_device(t.device()),
                Kind::Float,
            )?
            .expand([g * g, 6], false);
        let f = tch::no_grad(|| t.ema_model().log_density(&grid_x, &y));
        let dens = (&f - f.max())
            .exp()
            .to_device(Device::Cpu)
            .to_kind(Kind::Double);
        let v = Vec::<f64>::try_from(dens)?;
        panels.push(plot::heatmap(
            &v.chunks(g as usize)
                .map(<[f64]>::to_vec)
                .collect::<Vec<_>>(),
            2,
        ));
    }
    plot::save(&plot::grid(&panels, 4, 6), &out.join("densities.png"))?;
    Ok(vec![
        "conditional_samples.png".into(),
        "unconditional_samples.png".into(),
        "densities.png".into(),
    ])
}

/// The experiment as a library value ([`Experiment`]); `Toy::new(judge_per_value)`.
pub struct Toy {
    judge_per_value: i64,
}

impl Toy {
    /// The experiment, judged with `judge_per_value` samples per attribute value (fewer for
    /// a smoke test).
    pub fn new(judge_per_value: i64) -> Self {
        Self { judge_per_value }
    }
}

impl Experiment for Toy {
    type Energy = MlpEnergy;
    type Data = EightGaussians;

    fn name(&self) -> &str {
        "toy"
    }

    fn configure(&mut self, _: &CommonArgs, config: &mut TrainConfig) -> Result<()> {
        if presets::is_smoke_test(config) {
            self.judge_per_value = 2;
        }
        Ok(())
    }

    fn data(
        &mut self,
        c: &CommonArgs,
        config: &TrainConfig,
        device: Device,
    ) -> Result<Splits<EightGaussians>> {
        seed_everything(config.seed);
        let mut train = EightGaussians::new(c.missing_labels, Kind::Float)?;
        // A fixed test set, drawn from a seed of its own.
        seed_everything(presets::setup_seed(config.seed));
        let n_test = if config.eval_examples > 0 {
            config.eval_examples
        } else {
            1_000
        };
        let test = train.test_set(n_test, device)?;
        Ok(Splits {
            train,
            test,
            validation: None,
        })
    }

    fn network(&self, p: &nn::Path) -> ebm_core::Result<MlpEnergy> {
        Ok(presets::toy::energy(p))
    }

    fn architecture(&self) -> Option<Architecture> {
        Some(Architecture::ToyMlp)
    }

    fn judge(
        &mut self,
        _: &CommonArgs,
        _: &TrainConfig,
        _: &mut Splits<EightGaussians>,
        _: Device,
    ) -> Result<Option<Judge<MlpEnergy>>> {
        Ok(Some(crate::judges::toy(self.judge_per_value)))
    }

    fn options(&self) -> serde_json::Value {
        serde_json::json!({ "judge_per_value": self.judge_per_value })
    }

    fn figures(
        &mut self,
        trainer: &Trainer<MlpEnergy>,
        data: &mut Splits<EightGaussians>,
        out: &std::path::Path,
    ) -> Result<Vec<String>> {
        figures(trainer, out, &mut data.train)
    }
}

/// Trains and evaluates the experiment as `args` say (what the example's `main` does).
pub fn run(args: Args) -> Result<()> {
    crate::cli::experiment::run(Toy::new(args.judge_per_value), &args.common)
}
