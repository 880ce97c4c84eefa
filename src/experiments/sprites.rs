//! Structured sprites: one joint EBM over 32 × 32 sprites (square, ellipse, heart) and a
//! structured label — shape, scale, position bins **and the sprite's 16 × 16 mask as 256
//! bits** — which cannot be enumerated. Trained with the paper's estimator (sampled negatives)
//! and DMALA on the labels, Langevin on the images; prediction is sample-based and generation
//! starts from noise (the paper's protocol). See `jem_train::presets::sprites`.
//!
//! `cargo run --release --example sprites -- [common flags] [--labels all|factors|mask]
//! [--holdout heart:upper-left] [--mask-observed 0.1]`
//!
//! Metrics (`crate::structured`): during training on the validation split (`val_*`), at the
//! end on the test split and the held-out combinations (`zero_shot_*`). Figures (from noise):
//! `cond_shape.png` (rows: square, ellipse, heart), `cond_mask.png` (clamped mask | sample
//! pairs), `zero_shot.png` (factors of held-out images), `unconditional.png`.
use crate::cli::{plot, CommonArgs};
use crate::mask_baseline::train_mask_baseline;
use crate::say;
use crate::structured::{
    generation_metrics, predict_metrics, EvalSet, Protocol, Split, SpriteJudges,
    FACTOR_JUDGE_IMAGES,
};
use anyhow::{Context, Result};
use ebm_core::seed_everything;
use ebm_data::sprites::{Holdout, SpriteLabels, SpriteScenes, SpritesConfig, StructuredSprites};
use ebm_data::DataSource;
use jem_train::{presets, FactorHead, GenerationStart, JointModel, MaskCnnEnergy, Trainer};
use std::collections::BTreeMap;
use std::time::Instant;
use tch::{Device, Kind, Tensor};

/// The experiment's command line: the common flags and its own.
#[derive(clap::Parser, Debug)]
#[command(about = "Structured sprites: joint EBM over images, factors and masks")]
pub struct Args {
    /// The flags every experiment shares.
    #[command(flatten)]
    pub common: CommonArgs,
    /// Which labels form `y`: `all` (factors and mask), `factors` or `mask`.
    #[arg(long, default_value = "all")]
    pub labels: SpriteLabels,
    /// Held-out factor combinations (never trained on; the zero-shot split): comma-separated
    /// `shape:quadrant` (shapes square, ellipse, heart; quadrants upper-left, upper-right,
    /// lower-left, lower-right), or `none`.
    #[arg(long, default_value = "heart:upper-left")]
    pub holdout: String,
    /// Fraction of training images whose mask is observed (the factors always are); the
    /// others' masks are imputed by the sampler (semi-supervised segmentation).
    #[arg(long, default_value_t = 1.0)]
    pub mask_observed: f64,
    /// How the factors enter the energy: `readout` (one logit per factor value from the
    /// features of x and the mask) or `concat` (the paper's dSprites head: at the MLP's input).
    #[arg(long, value_enum, default_value = "readout")]
    pub factor_head: FactorHeadArg,
    /// Factor groups also drawn as image channels beside x: `none`, or `position` (each
    /// position bin as a stripe of pixel columns / rows where the sprite's centre lies;
    /// `presets::sprites::position_maps`). Not in the paper. Give it again on `--resume`,
    /// as `--factor-head` (the network must match the checkpoint's).
    #[arg(long, value_enum, default_value = "none")]
    pub factor_maps: FactorMapsArg,
    /// Train only the discriminative reference instead — a per-pixel CNN classifier of the
    /// mask (`crate::mask_baseline`) — for this many seconds of wall-clock time (e.g. the
    /// joint model's `train_seconds`), on the training images with observed masks; writes
    /// `baseline.json` to the output folder.
    #[arg(long)]
    pub baseline_seconds: Option<f64>,
}

/// `--factor-head`: [`FactorHead`] on the command line.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum FactorHeadArg {
    /// [`FactorHead::Readout`].
    Readout,
    /// [`FactorHead::Concat`].
    Concat,
}

/// `--factor-maps`: which factor groups [`MaskCnnEnergy`] also draws as image channels.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum FactorMapsArg {
    /// None: the factors enter through the head only.
    None,
    /// The two position groups ([`presets::sprites::position_maps`]).
    Position,
}

impl From<FactorHeadArg> for FactorHead {
    fn from(a: FactorHeadArg) -> Self {
        match a {
            FactorHeadArg::Readout => FactorHead::Readout,
            FactorHeadArg::Concat => FactorHead::Concat,
        }
    }
}

fn mask_panels(m: &Tensor) -> Result<Vec<image::RgbImage>> {
    let v = Vec::<f64>::try_from(m.to_device(Device::Cpu).to_kind(Kind::Double).reshape([-1]))?;
    Ok(v.chunks(256).map(|c| plot::grey(c, 16, 16, 4)).collect())
}

/// Figures from noise with the run's sweeps (see the module docs).
fn figures<M: ebm_core::JointEnergy>(
    t: &JointModel<M>,
    test: &EvalSet,
    zero: Option<&EvalSet>,
    labels: SpriteLabels,
    out: &std::path::Path,
) -> Result<Vec<String>> {
    let per = if presets::is_smoke_test(t.config()) {
        2
    } else {
        8
    };
    let gen = |fixed: &[(usize, &[i64])], n: i64| {
        t.generate(
            n,
            fixed,
            None,
            GenerationStart::Noise,
            t.config().gen_sweeps,
        )
    };
    let mut names = Vec::new();
    if labels.has_factors() {
        let mut cells = Vec::new();
        for s in 0..3 {
            cells.extend(plot::sprite_panels(&gen(&[(0, &[s])], per)?.0)?);
        }
        plot::save(
            &plot::grid(&cells, per as usize, 2),
            &out.join("cond_shape.png"),
        )?;
        names.push("cond_shape.png".into());
        if let Some(z) = zero {
            let f = Vec::<i64>::try_from(z.factors.narrow(0, 0, per).reshape([-1]))?;
            let cols: Vec<Vec<i64>> = (0..4)
                .map(|k| (0..per as usize).map(|i| f[4 * i + k]).collect())
                .collect();
            let fixed: Vec<(usize, &[i64])> = cols
                .iter()
                .enumerate()
                .map(|(k, c)| (k, c.as_slice()))
                .collect();
            plot::save(
                &plot::grid(&plot::sprite_panels(&gen(&fixed, per)?.0)?, per as usize, 2),
                &out.join("zero_shot.png"),
            )?;
            names.push("zero_shot.png".into());
        }
    }
    if labels.has_mask() {
        let masks = test.masks.narrow(0, 0, per);
        let m = Vec::<i64>::try_from(masks.to_kind(Kind::Int64).reshape([-1]))?;
        let off = if labels.has_factors() { 4 } else { 0 };
        let bits: Vec<Vec<i64>> = (0..256)
            .map(|b| (0..per as usize).map(|i| m[256 * i + b]).collect())
            .collect();
        let fixed: Vec<(usize, &[i64])> = bits
            .iter()
            .enumerate()
            .map(|(b, c)| (off + b, c.as_slice()))
            .collect();
        let samples = plot::sprite_panels(&gen(&fixed, per)?.0)?;
        let mut cells = Vec::new();
        for (mask, sample) in mask_panels(&masks)?.into_iter().zip(samples) {
            cells.push(mask);
            cells.push(sample);
        }
        plot::save(&plot::grid(&cells, 8, 2), &out.join("cond_mask.png"))?;
        names.push("cond_mask.png".into());
    }
    plot::save(
        &plot::grid(
            &plot::sprite_panels(&gen(&[], 2 * per)?.0)?,
            per as usize,
            2,
        ),
        &out.join("unconditional.png"),
    )?;
    names.push("unconditional.png".into());
    Ok(names)
}

/// Trains and evaluates the experiment as `args` say (what the example's `main` does).
pub fn run(args: Args) -> Result<()> {
    let c = &args.common;
    let (device, config) = c.start("sprites")?;
    let cfg = SpritesConfig {
        labels: args.labels,
        holdout: Holdout::parse_list(&args.holdout)?,
        mask_observed: args.mask_observed,
        ..SpritesConfig::default()
    };
    let started = Instant::now();
    let smoke = presets::is_smoke_test(&config);
    // A smoke test renders one orientation of eight (18 432 images) and trains a small judge.
    let mut data = if smoke {
        let scenes = SpriteScenes::generate_where(|l| l[3] == 0);
        let small = SpritesConfig {
            test_size: 500,
            val_size: 500,
            ..cfg.clone()
        };
        StructuredSprites::from_scenes(&scenes, small)
    } else {
        StructuredSprites::generate(cfg.clone())
    }
    .context("cannot build the sprites")?;
    if let Some(seconds) = args.baseline_seconds {
        let r = train_mask_baseline(&data, seconds, config.seed, device)?;
        std::fs::create_dir_all(c.out_dir())?;
        let path = c.out_dir().join("baseline.json");
        let json = serde_json::json!({
            "model": "per-pixel CNN classifier of the mask (discriminative reference; not a joint model)",
            "seed": config.seed, "mask_observed": args.mask_observed,
            "test_mask_iou": r.test_mask_iou, "val_mask_iou": r.val_mask_iou,
            "iterations": r.iterations, "train_seconds": r.train_seconds, "train_images": r.train_images,
        });
        std::fs::write(&path, serde_json::to_string_pretty(&json)?)?;
        say!(
            "sprites: mask baseline: test mask IoU {:.4} (validation {:.4}) after {} steps in {:.0} s on {} images; {}",
            r.test_mask_iou, r.val_mask_iou, r.iterations, r.train_seconds, r.train_images, path.display()
        );
        return Ok(());
    }
    seed_everything(presets::setup_seed(config.seed));
    // The evaluation protocol, fixed before any seed was judged.
    let (during, last) = if smoke {
        let p = Protocol {
            predict_examples: 4,
            chains: 2,
            steps: 2,
            gen_per_condition: 3,
            gen_sweeps: 2,
            starts: vec![GenerationStart::Noise],
        };
        (p.clone(), p)
    } else {
        (
            Protocol {
                predict_examples: 100,
                chains: 10,
                steps: config.eval_steps,
                gen_per_condition: 60,
                gen_sweeps: config.gen_sweeps,
                starts: vec![GenerationStart::Noise],
            },
            Protocol {
                predict_examples: 500,
                chains: 10,
                steps: config.eval_steps,
                gen_per_condition: 240,
                gen_sweeps: config.gen_sweeps,
                starts: vec![GenerationStart::Noise, GenerationStart::Buffer],
            },
        )
    };
    let judge_images = if smoke { 300 } else { FACTOR_JUDGE_IMAGES };
    let judges = SpriteJudges::fit(&data, judge_images, &crate::judges::cache_dir())?;
    for (k, v) in &judges.real {
        say!("sprites: {k} = {v:.4}");
    }
    let val = EvalSet::of(
        &mut data,
        Split::Validation,
        during.predict_examples.max(during.gen_per_condition),
        device,
    )?;
    let test = EvalSet::of(
        &mut data,
        Split::Test,
        last.predict_examples.max(last.gen_per_condition),
        device,
    )?;
    let zero = (!cfg.holdout.is_empty())
        .then(|| {
            EvalSet::of(
                &mut data,
                Split::ZeroShot,
                last.predict_examples.max(last.gen_per_condition),
                device,
            )
        })
        .transpose()?;
    let trainer_test = data.test_set(1, device)?;
    let real = judges.real.clone();
    let (test_j, zero_j) = (
        EvalSet {
            x: test.x.shallow_clone(),
            y: test.y.shallow_clone(),
            factors: test.factors.shallow_clone(),
            masks: test.masks.shallow_clone(),
        },
        zero.as_ref().map(|z| EvalSet {
            x: z.x.shallow_clone(),
            y: z.y.shallow_clone(),
            factors: z.factors.shallow_clone(),
            masks: z.masks.shallow_clone(),
        }),
    );
    let layout = args.labels.layout();
    let head = FactorHead::from(args.factor_head);
    let maps = match args.factor_maps {
        FactorMapsArg::None => Vec::new(),
        FactorMapsArg::Position => presets::sprites::position_maps(&layout),
    };
    let extra = serde_json::json!({
        "labels": args.labels, "holdout": args.holdout, "mask_observed": args.mask_observed,
        "energy": if maps.is_empty() {
            "mask-cnn: the mask as an image channel beside x, the factors in the head (not the paper's)"
        } else {
            "mask-cnn: the mask and the position bins (stripes) as image channels beside x, the factors in the head (not the paper's)"
        },
        "factor_head": head, "factor_maps": maps,
        "protocol_during": format!("{during:?}"), "protocol_final": format!("{last:?}"),
        "metrics_split": "val_* on the validation split (carved from training data); the rest on the test split",
    });
    let judge = Box::new(
        move |t: &Trainer<MaskCnnEnergy>| -> ebm_core::Result<BTreeMap<String, f64>> {
            let mut out = real.clone();
            let finished = t.iteration() == t.config().iterations;
            let t = t.joint_model();
            if !finished {
                predict_metrics(t, &val, &during, "val_", &mut out)?;
                generation_metrics(t, &judges, &val, &during, "val_", false, &mut out)?;
            } else {
                predict_metrics(t, &test_j, &last, "", &mut out)?;
                generation_metrics(t, &judges, &test_j, &last, "", false, &mut out)?;
                if let Some(z) = &zero_j {
                    predict_metrics(t, z, &last, "zero_shot_", &mut out)?;
                    generation_metrics(t, &judges, z, &last, "zero_shot_", true, &mut out)?;
                }
            }
            Ok(out)
        },
    );
    let (trainer, metrics, summary) = crate::cli::run::train(
        "sprites",
        c,
        device,
        config,
        &mut data,
        &trainer_test,
        None,
        (false, false),
        |p| {
            presets::sprites::energy(p, layout.clone(), head, &maps)
                .expect("the layout of the data fits the energy")
        },
        Some(jem_train::Architecture::SpritesMaskCnn {
            layout: layout.clone(),
            head,
            maps: maps.clone(),
        }),
        extra,
        Some(judge),
    )?;
    let figs = figures(
        trainer.joint_model(),
        &test,
        zero.as_ref(),
        args.labels,
        &c.out_dir(),
    )?;
    crate::cli::run::finish(
        "sprites",
        args.labels == SpriteLabels::All
            && args.holdout == "heart:upper-left"
            && args.mask_observed == 1.0,
        c,
        trainer.config(),
        &metrics,
        &summary,
        started.elapsed().as_secs_f64(),
        &figs,
        serde_json::json!({ "energy": "mask-cnn" }),
    )
}
