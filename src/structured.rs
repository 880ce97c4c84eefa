//! What a joint model of sprites, their factors and their masks can do, measured by judges that
//! never see the model: prediction from `x` alone and given other labels, conditional
//! generation from noise and from the replay buffer, and zero-shot combinations.
//!
//! # Judges (fitted or trained on the training split only)
//! - **shape and scale**: a CNN classifier of the 18 (shape, scale) classes, the MNIST judge's
//!   recipe on 32 × 32 images ([`ebm_data::judge::DigitJudge`]), trained on the first
//!   [`FACTOR_JUDGE_IMAGES`] training images (fewer for smoke tests) and cached on disk;
//! - **position and validity**: [`SpriteJudge`] (threshold, connected components, centroid →
//!   nearest fitted bin; valid = one component of a plausible area), fitted on the same images;
//! - **mask**: [`mask_of_images`] — the 2 × 2 block mean of the 32 × 32 image at ≥ ½, which
//!   on real images is exactly the data's mask rule.
//!
//! Each judge's score on the real test images is reported beside the model's (`judge_real_*`).
//!
//! # Metrics (all on the EMA model)
//! Prediction (`--eval` set of `predict_examples` images; `chains` chains × `steps` steps of
//! the prediction kernel on `y` with `x` fixed, started from `q₀(y)`, majority vote per
//! variable): `shape_accuracy`, `scale_within_one`, `position_within_one_x` / `_y`,
//! `all_factors_accuracy` (all four exact), `mask_iou` (the per-bit majority against the true
//! mask, mean over images); given other labels: `mask_iou_given_shape`,
//! `all_factors_accuracy_given_mask`, `shape_accuracy_given_mask`; and by energy, without
//! sampling, `{shape,scale,position_x,position_y}_accuracy_given_rest` (the factor's
//! `argmax_k f` with every other label true: what the energy knows, apart from mixing).
//!
//! Generation (`gen_per_condition` chains per conditioning, `gen_sweeps` sweeps of the training
//! kernels), suffix `_noise` (from `p₀(x) q₀(y)`: the paper's protocol) or `_buffer` (from
//! replay states whose labels match): conditioned on the shape alone (`cond_shape_accuracy`,
//! the judge's shape = the clamped one), on all four factors of test images
//! (`cond_factors_shape_accuracy`, `cond_scale_within_one`, `cond_position_within_one`: both
//! coordinates of a valid sprite within ±1 bin), on the masks of test images (`cond_mask_iou`:
//! the judged mask of the sample against the clamped one), unconditional (`sprite_valid`).
//! Zero-shot (`zero_shot_*`): the same prediction on held-out images and generation conditioned
//! on their four factors.

use ebm_core::{Error, JointEnergy, Result, YLayout};
use ebm_data::judge::{DigitJudge, SpriteJudge};
use ebm_data::sprites::{mask_iou, mask_of_images, SpriteSplit, StructuredSprites};
use ebm_data::{from_logit, ImageSplit};
use jem_train::{GenerationStart, JointModel};
use mwg::{predict_by_sampling, Observed, SamplePredictionConfig};
use std::collections::BTreeMap;
use std::path::Path;
use tch::{Device, Kind, Tensor};

/// Training images the shape-and-scale judge is trained on.
pub const FACTOR_JUDGE_IMAGES: i64 = 12_000;

/// The three judges (see the module docs).
#[derive(Debug)]
pub struct SpriteJudges {
    factors: DigitJudge,
    position: SpriteJudge,
    /// Each judge's score on the real test images.
    pub real: BTreeMap<String, f64>,
}

/// What the judges read from images.
#[derive(Debug)]
pub struct Readings {
    /// Judged shape class per image.
    pub shape: Vec<i64>,
    /// Judged scale class per image.
    pub scale: Vec<i64>,
    /// Judged `[x bin, y bin]` of a valid sprite (`None`: not a valid sprite).
    pub bins: Vec<Option<[i64; 2]>>,
    /// Whether each image is one plausible sprite.
    pub valid: Vec<bool>,
    /// Judged masks `[N, 256]` (float 0/1).
    pub mask: Tensor,
}

fn mean(v: impl Iterator<Item = bool>) -> f64 {
    let (mut k, mut n) = (0usize, 0usize);
    for b in v {
        k += usize::from(b);
        n += 1;
    }
    k as f64 / n.max(1) as f64
}

fn host(t: &Tensor) -> Result<Vec<i64>> {
    Ok(Vec::<i64>::try_from(
        t.to_device(Device::Cpu).to_kind(Kind::Int64).reshape([-1]),
    )?)
}

impl SpriteJudges {
    /// Trains (or reads from `cache_dir`) the shape-and-scale judge and fits the position judge
    /// on the first `images` training images; scores all three on the test split.
    pub fn fit(data: &StructuredSprites, images: i64, cache_dir: &Path) -> Result<Self> {
        let train = data.train();
        let n = images.clamp(1, train.len() as i64);
        let class = |s: &SpriteSplit, n: i64| {
            let f = s.factors.narrow(0, 0, n);
            ImageSplit {
                images: s.images.narrow(0, 0, n),
                labels: (f.select(1, 0) * 6 + f.select(1, 1)).view([-1, 1]),
                scale: 4.0,
            }
        };
        let test = data.test();
        let (factors, report) = DigitJudge::load_or_train(
            &class(train, n),
            &class(test, test.len() as i64),
            cache_dir,
        )?;
        let position = SpriteJudge::fit(
            &train.intensities().narrow(0, 0, n),
            &train.factors.narrow(0, 0, n).narrow(1, 2, 2),
            16,
        )?;
        let mut judges = Self {
            factors,
            position,
            real: BTreeMap::new(),
        };
        let r = judges.read(&test.intensities())?;
        let truth = host(&test.factors)?;
        let real = &mut judges.real;
        real.insert(
            "judge_real_shape_scale_accuracy".into(),
            report.test_accuracy,
        );
        real.insert(
            "judge_real_shape_accuracy".into(),
            mean((0..r.shape.len()).map(|i| r.shape[i] == truth[4 * i])),
        );
        real.insert(
            "judge_real_position_within_one".into(),
            mean((0..r.bins.len()).map(|i| {
                r.bins[i].is_some_and(|b| {
                    (b[0] - truth[4 * i + 2]).abs() <= 1 && (b[1] - truth[4 * i + 3]).abs() <= 1
                })
            })),
        );
        real.insert(
            "judge_real_sprite_valid".into(),
            mean(r.valid.iter().copied()),
        );
        real.insert(
            "judge_real_mask_iou".into(),
            f64::try_from(mask_iou(&r.mask, &test.masks).mean(Kind::Double))?,
        );
        Ok(judges)
    }

    /// Reads images `[N, 1, 32, 32]` with intensities in `[0, 1]`.
    pub fn read(&self, images: &Tensor) -> Result<Readings> {
        let images = images.to_device(Device::Cpu).to_kind(Kind::Float);
        let (classes, _) = self.factors.classify(&images)?;
        let sprites = self.position.read(&images)?;
        Ok(Readings {
            shape: classes.iter().map(|c| c / 6).collect(),
            scale: classes.iter().map(|c| c % 6).collect(),
            bins: sprites.iter().map(|s| s.bins.filter(|_| s.valid)).collect(),
            valid: sprites.iter().map(|s| s.valid).collect(),
            mask: mask_of_images(&images),
        })
    }
}

/// How much work one evaluation does (fixed before the seeds it judges).
#[derive(Clone, Debug, PartialEq)]
pub struct Protocol {
    /// Images predicted (from the front of the split).
    pub predict_examples: i64,
    /// Prediction chains per image.
    pub chains: i64,
    /// Steps of each prediction chain.
    pub steps: usize,
    /// Chains per generation conditioning.
    pub gen_per_condition: i64,
    /// Sweeps of each generation chain.
    pub gen_sweeps: usize,
    /// Starts judged for generation.
    pub starts: Vec<GenerationStart>,
}

/// One split to evaluate on: preprocessed images and labels as served, and the truth.
pub struct EvalSet {
    /// Preprocessed `x` `[N, 1, 32, 32]`.
    pub x: Tensor,
    /// Labels `[N, D]` as served.
    pub y: Tensor,
    /// `[N, 4]` int64 factors.
    pub factors: Tensor,
    /// `[N, 256]` uint8 masks.
    pub masks: Tensor,
}

impl EvalSet {
    /// The same tensors, shared (no copy).
    pub fn shallow_clone(&self) -> Self {
        Self {
            x: self.x.shallow_clone(),
            y: self.y.shallow_clone(),
            factors: self.factors.shallow_clone(),
            masks: self.masks.shallow_clone(),
        }
    }

    /// The first `max` images of the validation split, the test split or the zero-shot split.
    pub fn of(
        data: &mut StructuredSprites,
        which: Split,
        max: i64,
        device: Device,
    ) -> Result<Self> {
        use ebm_data::DataSource;
        let b = match which {
            Split::Validation => data.validation_set(max, device)?,
            Split::Test => data.test_set(max, device)?,
            Split::ZeroShot => data.zero_shot_set(max, device)?,
        };
        let s = match which {
            Split::Validation => data.validation(),
            Split::Test => data.test(),
            Split::ZeroShot => data.zero_shot(),
        };
        let n = b.x.size()[0];
        Ok(Self {
            x: b.x,
            y: b.y,
            factors: s.factors.narrow(0, 0, n),
            masks: s.masks.narrow(0, 0, n),
        })
    }

    fn len(&self) -> i64 {
        self.x.size()[0]
    }
}

/// Which split an [`EvalSet`] comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Split {
    /// Carved from the training data: for tuning and curves during training.
    Validation,
    /// The reported numbers.
    Test,
    /// The held-out combinations.
    ZeroShot,
}

/// Which parts of `y` the layout has: `(factor groups?, mask bits?)`.
fn parts(layout: &YLayout) -> (bool, bool) {
    (!layout.groups().is_empty(), layout.bits() > 0)
}

/// Prediction metrics (see the module docs) on `set`, written into `out` with `prefix`.
pub fn predict_metrics<M: JointEnergy>(
    t: &JointModel<M>,
    set: &EvalSet,
    p: &Protocol,
    prefix: &str,
    out: &mut BTreeMap<String, f64>,
) -> Result<()> {
    let model = t.energy();
    let layout = model.y_layout().clone();
    let (has_f, has_m) = parts(&layout);
    let n = p.predict_examples.min(set.len());
    let x = set.x.narrow(0, 0, n);
    let y = set.y.narrow(0, 0, n);
    let factors = host(&set.factors.narrow(0, 0, n))?;
    let masks = set.masks.narrow(0, 0, n);
    let kernel = t.prediction_kernel()?;
    let cfg = SamplePredictionConfig {
        chains_per_input: p.chains,
        steps: p.steps,
        y_init: t.y_init().clone(),
    };
    let v = layout.num_vars() as i64;
    let nf = if has_f { 4 } else { 0 };
    let run = |fixed: Option<&Tensor>| -> Result<Tensor> {
        let obs = fixed.map(|f| Observed {
            values: &y,
            fixed: f,
        });
        Ok(predict_by_sampling(model, &kernel, &x, obs, &cfg)?
            .values
            .to_device(Device::Cpu))
    };
    let factor_scores =
        |values: &Tensor, suffix: &str, out: &mut BTreeMap<String, f64>| -> Result<()> {
            let got = host(&values.narrow(1, 0, 4))?;
            let idx = 0..n as usize;
            let near = |i: usize, k: usize| (got[4 * i + k] - factors[4 * i + k]).abs() <= 1;
            out.insert(
                format!("{prefix}shape_accuracy{suffix}"),
                mean(idx.clone().map(|i| got[4 * i] == factors[4 * i])),
            );
            out.insert(
                format!("{prefix}scale_within_one{suffix}"),
                mean(idx.clone().map(|i| near(i, 1))),
            );
            out.insert(
                format!("{prefix}position_within_one_x{suffix}"),
                mean(idx.clone().map(|i| near(i, 2))),
            );
            out.insert(
                format!("{prefix}position_within_one_y{suffix}"),
                mean(idx.clone().map(|i| near(i, 3))),
            );
            out.insert(
                format!("{prefix}all_factors_accuracy{suffix}"),
                mean(idx.map(|i| (0..4).all(|k| got[4 * i + k] == factors[4 * i + k]))),
            );
            Ok(())
        };
    let iou = |values: &Tensor| -> Result<f64> {
        Ok(f64::try_from(
            mask_iou(&values.narrow(1, nf, 256), &masks).mean(Kind::Double),
        )?)
    };
    let free = run(None)?;
    if has_f {
        factor_scores(&free, "", out)?;
        let acc = factor_accuracy_given_rest(model, &x, &y, &set.factors.narrow(0, 0, n))?;
        for (name, a) in FACTOR_NAMES.iter().zip(acc) {
            out.insert(format!("{prefix}{name}_accuracy_given_rest"), a);
        }
    }
    if has_m {
        out.insert(format!("{prefix}mask_iou"), iou(&free)?);
    }
    if has_f && has_m {
        let dev = y.device();
        let shape_fixed = Tensor::arange(v, (Kind::Int64, dev)).eq(0);
        out.insert(
            format!("{prefix}mask_iou_given_shape"),
            iou(&run(Some(&shape_fixed))?)?,
        );
        let mask_fixed = Tensor::arange(v, (Kind::Int64, dev)).ge(4);
        let given = run(Some(&mask_fixed))?;
        let mut m = BTreeMap::new();
        factor_scores(&given, "_given_mask", &mut m)?;
        for k in [
            "shape_accuracy_given_mask",
            "all_factors_accuracy_given_mask",
        ] {
            let key = format!("{prefix}{k}");
            if let Some(val) = m.get(&key) {
                out.insert(key, *val);
            }
        }
    }
    Ok(())
}

/// The four factor groups' names, in the layout's order.
pub const FACTOR_NAMES: [&str; 4] = ["shape", "scale", "position_x", "position_y"];

/// For each factor group `g`: the fraction of rows whose true value is `argmax_k f(x, y with
/// group g set to k)`, every other label at its true value — the model's conditional
/// `p(y_g | y_¬g, x)` read exactly (K evaluations per group, no sampling). A diagnostic that
/// separates what the energy knows from how well a chain finds it.
/// `x` `[N, …]`, `y` `[N, D]` as served, `factors` `[N, 4]` int64.
pub fn factor_accuracy_given_rest<M: JointEnergy>(
    model: &M,
    x: &Tensor,
    y: &Tensor,
    factors: &Tensor,
) -> Result<[f64; 4]> {
    let _guard = tch::no_grad_guard();
    let layout = model.y_layout();
    let h = model.features(x);
    let f_of = |y: &Tensor| match &h {
        Some(h) => model.log_density_from_features(h, y),
        None => model.log_density(x, y),
    };
    let truth = factors.to_device(y.device());
    let mut acc = [0.0; 4];
    for (g, a) in acc.iter_mut().enumerate() {
        let cols = layout.columns(g);
        let scores: Vec<Tensor> = (0..cols.len() as i64)
            .map(|k| {
                let yk = y.copy();
                let mut block = yk.narrow(1, cols.start as i64, cols.len() as i64);
                let _ = block.fill_(0.0);
                let _ = block.narrow(1, k, 1).fill_(1.0);
                f_of(&yk)
            })
            .collect();
        let best = Tensor::stack(&scores, 1).argmax(1, false);
        *a = f64::try_from(
            best.eq_tensor(&truth.select(1, g as i64))
                .to_kind(Kind::Double)
                .mean(Kind::Double),
        )?;
    }
    Ok(acc)
}

/// Generation metrics (see the module docs) conditioned on `set`'s labels, with `prefix`;
/// `zero_shot`: only the all-factor conditioning (the held-out combinations).
pub fn generation_metrics<M: JointEnergy>(
    t: &JointModel<M>,
    judges: &SpriteJudges,
    set: &EvalSet,
    p: &Protocol,
    prefix: &str,
    zero_shot: bool,
    out: &mut BTreeMap<String, f64>,
) -> Result<()> {
    let layout = t.layout().clone();
    let (has_f, has_m) = parts(&layout);
    let n = p.gen_per_condition.min(set.len());
    if n < 1 {
        return Err(Error::config("gen_per_condition", n, "must be ≥ 1"));
    }
    let factors = host(&set.factors.narrow(0, 0, n))?;
    let column = |k: usize| -> Vec<i64> { (0..n as usize).map(|i| factors[4 * i + k]).collect() };
    for &start in &p.starts {
        let suffix = match start {
            GenerationStart::Noise => "_noise",
            GenerationStart::Buffer => "_buffer",
            GenerationStart::Posterior => "_posterior",
        };
        let gen = |fixed: &[(usize, &[i64])]| -> Result<Readings> {
            let (x, _) = t.generate(n, fixed, None, start, p.gen_sweeps)?;
            judges.read(&from_logit(&x))
        };
        let key = |name: &str| format!("{prefix}{name}{suffix}");
        if has_f {
            if !zero_shot {
                let shapes: Vec<i64> = (0..n).map(|i| i % 3).collect();
                let r = gen(&[(0, &shapes)])?;
                out.insert(
                    key("cond_shape_accuracy"),
                    mean((0..n as usize).map(|i| r.shape[i] == shapes[i])),
                );
                out.insert(key("cond_shape_valid"), mean(r.valid.iter().copied()));
            }
            let cols: Vec<Vec<i64>> = (0..4).map(column).collect();
            let fixed: Vec<(usize, &[i64])> = cols
                .iter()
                .enumerate()
                .map(|(k, c)| (k, c.as_slice()))
                .collect();
            let r = gen(&fixed)?;
            let idx = 0..n as usize;
            out.insert(
                key("cond_factors_shape_accuracy"),
                mean(idx.clone().map(|i| r.shape[i] == cols[0][i])),
            );
            out.insert(
                key("cond_scale_within_one"),
                mean(idx.clone().map(|i| (r.scale[i] - cols[1][i]).abs() <= 1)),
            );
            out.insert(
                key("cond_position_within_one"),
                mean(idx.clone().map(|i| {
                    r.bins[i].is_some_and(|b| {
                        (b[0] - cols[2][i]).abs() <= 1 && (b[1] - cols[3][i]).abs() <= 1
                    })
                })),
            );
            out.insert(key("cond_factors_valid"), mean(r.valid.iter().copied()));
        }
        if zero_shot {
            continue;
        }
        if has_m {
            let masks = host(&set.masks.narrow(0, 0, n))?;
            let bits: Vec<Vec<i64>> = (0..256)
                .map(|b| (0..n as usize).map(|i| masks[256 * i + b]).collect())
                .collect();
            let off = if has_f { 4 } else { 0 };
            let fixed: Vec<(usize, &[i64])> = bits
                .iter()
                .enumerate()
                .map(|(b, c)| (off + b, c.as_slice()))
                .collect();
            let r = gen(&fixed)?;
            let iou = mask_iou(&r.mask, &set.masks.narrow(0, 0, n));
            out.insert(key("cond_mask_iou"), f64::try_from(iou.mean(Kind::Double))?);
            out.insert(key("cond_mask_valid"), mean(r.valid.iter().copied()));
        }
        let r = gen(&[])?;
        out.insert(key("sprite_valid"), mean(r.valid.iter().copied()));
    }
    Ok(())
}
