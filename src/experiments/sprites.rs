//! Structured sprites: one joint EBM over 32 × 32 sprites (square, ellipse, heart) and a
//! structured label — shape, scale, position bins **and the sprite's 16 × 16 mask as 256
//! bits** — which cannot be enumerated. Trained with the paper's estimator (sampled negatives)
//! and DMALA on the labels, Langevin on the images; prediction is sample-based and generation
//! starts from noise (the paper's protocol). See `jem_train::presets::sprites`.
//!
//! `cargo run --release --example sprites -- [common flags] [--labels all|factors|mask]
//! [--holdout heart:upper-left] [--mask-observed 0.1 [--labelled-share 0.5]]`
//!
//! Metrics (`crate::structured`): at every evaluation on the validation split (`val_*`), at
//! the end also on the test split and the held-out combinations (`zero_shot_*`). Figures (from noise):
//! `cond_shape.png` (rows: square, ellipse, heart), `cond_mask.png` (clamped mask | sample
//! pairs), `zero_shot.png` (factors of held-out images), `unconditional.png`.
use crate::cli::{plot, CommonArgs};
use crate::cli::{Experiment, Splits};
use crate::mask_baseline::train_mask_baseline;
use crate::say;
use crate::structured::{
    generation_metrics, predict_metrics, EvalSet, Protocol, Split, SpriteJudges,
    FACTOR_JUDGE_IMAGES,
};
use anyhow::{Context, Result};
use ebm_core::{seed_everything, YLayout};
use ebm_data::sprites::{Holdout, SpriteLabels, SpriteScenes, SpritesConfig, StructuredSprites};
use ebm_data::DataSource;
use jem_train::{
    presets, Architecture, FactorHead, FactorMap, GenerationStart, JointModel, Judge,
    MaskCnnEnergy, TrainConfig, Trainer,
};
use std::collections::BTreeMap;
use tch::{nn, Device, Kind, Tensor};

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
    /// With `--mask-observed` below 1: the share of every training batch drawn from the
    /// images whose mask is observed (the rest from the others); not the paper's weighting,
    /// which draws batches uniformly (the default, no share).
    #[arg(long)]
    pub labelled_share: Option<f64>,
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

/// The splits judged during and after training, and the judges (made by `data`, moved into
/// the judge).
struct Judging {
    judges: SpriteJudges,
    val: EvalSet,
    test: EvalSet,
    zero: Option<EvalSet>,
    during: Protocol,
    last: Protocol,
}

/// The experiment as a library value ([`Experiment`]), from its command line.
pub struct SpritesExperiment {
    args: Args,
    layout: YLayout,
    head: FactorHead,
    maps: Vec<FactorMap>,
    /// Made with the data, moved into the judge.
    eval: Option<Judging>,
    /// The protocols (during, at the end), for `config.json`.
    protocols: Option<(Protocol, Protocol)>,
    /// The test and zero-shot sets, for the figures.
    figure_sets: Option<(EvalSet, Option<EvalSet>)>,
}

impl SpritesExperiment {
    /// The experiment as `args` say (their common flags are passed to the driver apart).
    pub fn new(args: Args) -> Self {
        let layout = args.labels.layout();
        let maps = match args.factor_maps {
            FactorMapsArg::None => Vec::new(),
            FactorMapsArg::Position => presets::sprites::position_maps(&layout),
        };
        Self {
            head: FactorHead::from(args.factor_head),
            layout,
            maps,
            eval: None,
            protocols: None,
            figure_sets: None,
            args,
        }
    }
}

/// The data set as the flags say; a smoke test renders one orientation of eight (18 432
/// images).
fn build_data(args: &Args, smoke: bool) -> Result<StructuredSprites> {
    let cfg = SpritesConfig {
        labels: args.labels,
        holdout: Holdout::parse_list(&args.holdout)?,
        mask_observed: args.mask_observed,
        labelled_share: args.labelled_share,
        ..SpritesConfig::default()
    };
    if smoke {
        let scenes = SpriteScenes::generate_where(|l| l[3] == 0);
        let small = SpritesConfig {
            test_size: 500,
            val_size: 500,
            ..cfg
        };
        StructuredSprites::from_scenes(&scenes, small)
    } else {
        StructuredSprites::generate(cfg)
    }
    .context("cannot build the sprites")
}

impl Experiment for SpritesExperiment {
    type Energy = MaskCnnEnergy;
    type Data = StructuredSprites;

    fn name(&self) -> &str {
        "sprites"
    }

    /// The built-in preset, without the terms over the factor groups when the labels have
    /// none (`--labels mask`; [`presets::sprites::for_layout`]).
    fn preset(&self, preset: &str) -> ebm_core::Result<TrainConfig> {
        let config = presets::lookup(self.name(), preset)?;
        Ok(presets::sprites::for_layout(config, &self.layout))
    }

    fn data(
        &mut self,
        _: &CommonArgs,
        config: &TrainConfig,
        device: Device,
    ) -> Result<Splits<StructuredSprites>> {
        let smoke = presets::is_smoke_test(config);
        let mut data = build_data(&self.args, smoke)?;
        if let Some(share) = self.args.labelled_share {
            say!(
                "sprites: masks observed for {:.0} % of the training images, drawn as {:.0} % of \
                 every batch (--labelled-share: not the paper's weighting, which draws batches \
                 uniformly)",
                100.0 * self.args.mask_observed,
                100.0 * share
            );
        }
        seed_everything(presets::setup_seed(config.seed));
        let (during, last) = protocols(config);
        let judge_images = if smoke { 300 } else { FACTOR_JUDGE_IMAGES };
        let judges = SpriteJudges::fit(&data, judge_images, &crate::judges::cache_dir())?;
        for (k, v) in &judges.real {
            say!("sprites: {k} = {v:.4}");
        }
        let size = |p: &Protocol| p.predict_examples.max(p.gen_per_condition);
        let val = EvalSet::of(&mut data, Split::Validation, size(&during), device)?;
        let test = EvalSet::of(&mut data, Split::Test, size(&last), device)?;
        let zero = (!Holdout::parse_list(&self.args.holdout)?.is_empty())
            .then(|| EvalSet::of(&mut data, Split::ZeroShot, size(&last), device))
            .transpose()?;
        // The trainer's own evaluation is off (`Evaluation`): one test example suffices.
        let trainer_test = data.test_set(1, device)?;
        self.protocols = Some((during.clone(), last.clone()));
        self.figure_sets = Some((
            test.shallow_clone(),
            zero.as_ref().map(EvalSet::shallow_clone),
        ));
        self.eval = Some(Judging {
            judges,
            val,
            test,
            zero,
            during,
            last,
        });
        Ok(Splits {
            train: data,
            test: trainer_test,
            validation: None,
        })
    }

    fn network(&self, p: &nn::Path) -> ebm_core::Result<MaskCnnEnergy> {
        presets::sprites::energy(p, self.layout.clone(), self.head, &self.maps)
    }

    fn architecture(&self) -> Option<Architecture> {
        Some(Architecture::SpritesMaskCnn {
            layout: self.layout.clone(),
            head: self.head,
            maps: self.maps.clone(),
        })
    }

    fn judge(
        &mut self,
        _: &CommonArgs,
        _: &TrainConfig,
        _: &mut Splits<StructuredSprites>,
        _: Device,
    ) -> Result<Option<Judge<MaskCnnEnergy>>> {
        let e = self
            .eval
            .take()
            .context("the judge is made after the data")?;
        let real = e.judges.real.clone();
        Ok(Some(Box::new(
            move |t: &Trainer<MaskCnnEnergy>| -> ebm_core::Result<BTreeMap<String, f64>> {
                let mut out = real.clone();
                let finished = t.iteration() == t.config().iterations;
                let t = t.joint_model();
                let j = &e.judges;
                // The validation rows at every evaluation, the last included, so that runs
                // of different lengths compare on the split they are tuned on.
                predict_metrics(t, &e.val, &e.during, "val_", &mut out)?;
                generation_metrics(t, j, &e.val, &e.during, "val_", false, &mut out)?;
                if finished {
                    // The final protocol runs for an hour or more on two CPU cores: say
                    // which part is running and how long the last one took.
                    let p = &e.last;
                    let t0 = std::time::Instant::now();
                    let say = |what: String| {
                        eprintln!(
                            "sprites: final evaluation at {:.0} s: {what}",
                            t0.elapsed().as_secs_f64()
                        )
                    };
                    say(format!(
                        "predicting {} test images ({} chains × {} steps each)",
                        p.predict_examples.min(e.test.x.size()[0]),
                        p.chains,
                        p.steps
                    ));
                    predict_metrics(t, &e.test, p, "", &mut out)?;
                    say(format!(
                        "generating on the test split ({} chains per conditioning, {} sweeps, \
                         starts {:?})",
                        p.gen_per_condition, p.gen_sweeps, p.starts
                    ));
                    generation_metrics(t, j, &e.test, p, "", false, &mut out)?;
                    if let Some(z) = &e.zero {
                        say("predicting and generating on the zero-shot combinations".into());
                        predict_metrics(t, z, p, "zero_shot_", &mut out)?;
                        generation_metrics(t, j, z, p, "zero_shot_", true, &mut out)?;
                    }
                    say("done".into());
                }
                Ok(out)
            },
        )))
    }

    fn evaluation(&self) -> crate::cli::Evaluation {
        // Sample-based prediction and generation are judged by the judge above.
        crate::cli::Evaluation {
            energy_based: false,
            sample_based: false,
        }
    }

    fn options(&self) -> serde_json::Value {
        let (during, last) = self
            .protocols
            .as_ref()
            .map(|(d, l)| (format!("{d:?}"), format!("{l:?}")))
            .unwrap_or_default();
        serde_json::json!({
            "labels": self.args.labels, "holdout": self.args.holdout,
            "mask_observed": self.args.mask_observed,
            "labelled_share": self.args.labelled_share,
            "energy": if self.maps.is_empty() {
                "mask-cnn: the mask as an image channel beside x, the factors in the head (not the paper's)"
            } else {
                "mask-cnn: the mask and the position bins (stripes) as image channels beside x, the factors in the head (not the paper's)"
            },
            "factor_head": self.head, "factor_maps": self.maps,
            "protocol_during": during, "protocol_final": last,
            "metrics_split": "val_* on the validation split (carved from training data); the rest on the test split",
        })
    }

    fn figures(
        &mut self,
        trainer: &Trainer<MaskCnnEnergy>,
        _: &mut Splits<StructuredSprites>,
        out: &std::path::Path,
    ) -> Result<Vec<String>> {
        let (test, zero) = self
            .figure_sets
            .as_ref()
            .context("the figures' sets are made with the data")?;
        figures(
            trainer.joint_model(),
            test,
            zero.as_ref(),
            self.args.labels,
            out,
        )
    }

    fn metrics(&self) -> serde_json::Value {
        serde_json::json!({ "energy": "mask-cnn" })
    }

    fn bars_apply(&self) -> bool {
        self.args.labels == SpriteLabels::All
            && self.args.holdout == "heart:upper-left"
            && self.args.mask_observed == 1.0
            && self.args.labelled_share.is_none()
    }
}

/// The evaluation protocol, fixed before any seed was judged: during training (validation
/// split) and at the end (test and zero-shot splits). A smoke test's is a handful of chains.
fn protocols(config: &TrainConfig) -> (Protocol, Protocol) {
    if presets::is_smoke_test(config) {
        let p = Protocol {
            predict_examples: 4,
            chains: 2,
            steps: 2,
            gen_per_condition: 3,
            gen_sweeps: 2,
            starts: vec![GenerationStart::Noise],
        };
        return (p.clone(), p);
    }
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
}

/// `--baseline-seconds`: trains the discriminative reference only and writes `baseline.json`.
fn baseline(args: Args, seconds: f64) -> Result<()> {
    let c = &args.common;
    let (device, config) = c.start("sprites")?;
    let data = build_data(&args, presets::is_smoke_test(&config))?;
    let r = train_mask_baseline(&data, seconds, config.seed, device)?;
    let path = c.out_dir().join("baseline.json");
    let json = serde_json::json!({
        "model": "per-pixel CNN classifier of the mask (discriminative reference; not a joint model)",
        "seed": config.seed, "mask_observed": args.mask_observed,
        "test_mask_iou": r.test_mask_iou, "val_mask_iou": r.val_mask_iou,
        "iterations": r.iterations, "train_seconds": r.train_seconds, "train_images": r.train_images,
    });
    crate::cli::write_json(&path, &json)?;
    say!(
        "sprites: mask baseline: test mask IoU {:.4} (validation {:.4}) after {} steps in {:.0} s on {} images; {}",
        r.test_mask_iou, r.val_mask_iou, r.iterations, r.train_seconds, r.train_images, path.display()
    );
    Ok(())
}

/// Trains and evaluates the experiment as `args` say (what the example's `main` does).
pub fn run(args: Args) -> Result<()> {
    if let Some(seconds) = args.baseline_seconds {
        return baseline(args, seconds);
    }
    let common = args.common.clone();
    crate::cli::experiment::run(SpritesExperiment::new(args), &common)
}
