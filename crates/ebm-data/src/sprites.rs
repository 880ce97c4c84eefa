//! Structured sprites: the three dSprites shapes with every factor **and the sprite's mask**
//! as one label vector — a label space that cannot be enumerated (`3 · 6 · 16 · 16 · 2²⁵⁶`
//! configurations), for the joint model of images and rich, correlated supervision.
//!
//! # Images
//! Procedural, as [`crate::dsprites`] (whose renderer and conventions this module shares): all
//! three shapes (square 0, ellipse 1, heart 2), the 6 scales, the 8 orientations of the paper's
//! subset ([`ORIENTATION_CLASSES`]), all 32 × 32 positions — `3 · 6 · 8 · 32 · 32 = 147 456`
//! images, rendered on the 64 × 64 canvas and downsampled to 32 × 32 (the mean of each 2 × 2
//! block, stored in quarters). DeepMind did not publish its renderer; the square and the heart
//! are documented approximations, like the ellipse:
//!
//! - **square**: half-side `scale · 8.5` px ([`SQUARE_HALF_PX`]), rotated like the ellipse;
//! - **heart**: the region `(X² + Y² − 1)³ ≤ X² Y³` of the classic heart curve, with
//!   `X = u / h`, `Y = v / h + 0.12` in the sprite's rotated, y-up frame `(u, v)` and
//!   `h = scale · 9` px ([`HEART_UNIT_PX`]), so the heart's point is down at orientation 0;
//! - **ellipse**: [`crate::dsprites::render_ellipse`].
//!
//! At scale 1 the three areas are about 300, 235 and 290 px on the 64 × 64 canvas (324, 228 and
//! 296 at the centre); every sprite
//! stays inside the canvas.
//!
//! # The label
//! One structured vector per image (see [`SpriteLabels`] for the variants):
//! - four categorical groups: shape (3), scale (6), position x bin (16), position y bin (16)
//!   (bins = position class // 2, x to the right, y downwards);
//! - **the mask**: 256 bits, the sprite's silhouette at 16 × 16 — bit `(i, j)` (row-major) is 1
//!   iff at least half (8 of 16) of the pixels of the 4 × 4 block `(i, j)` of the 64 × 64 render
//!   are set. Orientation is rendered but not a label (it is ambiguous for symmetric shapes).
//!
//! # Splits
//! Images of the held-out factor combinations ([`Holdout`], default hearts in the upper-left
//! quadrant) never enter training: they form the **zero-shot** split. The others are permuted
//! with [`seeded_permutation`]`(N, split_seed)`: the first `test_size` are the test split, the
//! next `val_size` the validation split (carved from the training data, for tuning), the rest
//! train.
use crate::dsprites::{
    downsample_2x, orientation_value, position_value, render_ellipse, scale_value, NUM_POSITIONS,
    NUM_SCALES, ORIENTATION_CLASSES, POSITION_BINS, POSITION_MIN_PX, POSITION_RANGE_PX,
    RENDER_SIDE, SIDE,
};
use crate::images::{ImageBatcher, ImageSplit};
use crate::preprocess::Preprocess;
use crate::seeded::{seeded_permutation, SplitMix64};
use crate::{Batch, DataSource};
use ebm_core::{Error, Result, YLayout};
use std::fmt;
use std::str::FromStr;
use tch::{Device, Kind, Tensor};

/// Shape classes in the dSprites order.
pub const SHAPES: [&str; 3] = ["square", "ellipse", "heart"];
/// Half-side of the square at scale 1, in pixels of the 64 × 64 canvas.
pub const SQUARE_HALF_PX: f64 = 8.5;
/// Unit of the heart curve at scale 1, in pixels of the 64 × 64 canvas.
pub const HEART_UNIT_PX: f64 = 9.0;
/// Side of the mask label.
pub const MASK_SIDE: usize = 16;
/// Number of mask bits.
pub const MASK_BITS: usize = MASK_SIDE * MASK_SIDE;
/// Number of images: 3 shapes × 6 scales × 8 orientations × 32 × 32 positions.
pub const NUM_IMAGES: usize = 3 * 6 * 8 * 32 * 32;
/// The four factor groups: shape, scale, position x bin, position y bin.
pub const FACTOR_GROUPS: [usize; 4] = [3, NUM_SCALES as usize, POSITION_BINS, POSITION_BINS];

/// Renders shape `shape` (0 square, 1 ellipse, 2 heart) on the 64 × 64 canvas: row-major
/// binary image (`0`/`1`, length 4096). Positions and orientation as
/// [`crate::dsprites::render_ellipse`].
pub fn render_shape(shape: i64, scale: f64, orientation: f64, pos_x: f64, pos_y: f64) -> Vec<u8> {
    if shape == 1 {
        return render_ellipse(scale, orientation, pos_x, pos_y);
    }
    let n = RENDER_SIDE;
    let mut img = vec![0u8; n * n];
    let (cx, cy) = (
        POSITION_MIN_PX + POSITION_RANGE_PX * pos_x,
        POSITION_MIN_PX + POSITION_RANGE_PX * pos_y,
    );
    let (sin, cos) = orientation.sin_cos();
    let reach = 16.0 * scale;
    let lo = |c: f64| ((c - reach).floor().max(0.0)) as usize;
    let hi = |c: f64| ((c + reach).ceil().min(n as f64)) as usize;
    for r in lo(cy)..hi(cy) {
        for c in lo(cx)..hi(cx) {
            let dx = c as f64 + 0.5 - cx;
            let dy = cy - (r as f64 + 0.5);
            let u = dx * cos + dy * sin;
            let v = -dx * sin + dy * cos;
            let inside = if shape == 0 {
                let a = scale * SQUARE_HALF_PX;
                u.abs() <= a && v.abs() <= a
            } else {
                let h = scale * HEART_UNIT_PX;
                let (x, y) = (u / h, v / h + 0.12);
                let q = x * x + y * y - 1.0;
                q * q * q <= x * x * y * y * y
            };
            if inside {
                img[r * n + c] = 1;
            }
        }
    }
    img
}

/// The 16 × 16 mask of a binary 64 × 64 render: bit `(i, j)` is 1 iff at least 8 of the 16
/// pixels of block `(i, j)` are set. Row-major, values 0/1.
pub fn mask_16(img: &[u8]) -> Vec<u8> {
    let b = RENDER_SIDE / MASK_SIDE;
    let mut out = vec![0u8; MASK_BITS];
    for i in 0..MASK_SIDE {
        for j in 0..MASK_SIDE {
            let mut set = 0;
            for r in 0..b {
                for c in 0..b {
                    set += usize::from(img[(i * b + r) * RENDER_SIDE + j * b + c]);
                }
            }
            out[i * MASK_SIDE + j] = u8::from(2 * set >= b * b);
        }
    }
    out
}

/// The mask a 32 × 32 image shows: bit `(i, j)` is 1 iff the mean intensity of its 2 × 2
/// block is at least ½. On the data's images (intensity = fraction of the 64 × 64 pixels set)
/// this is exactly [`mask_16`] of the render; for generated images it is the judge's reading.
/// `images` `[N, 1, 32, 32]` (or `[N, 32, 32]`) intensities in `[0, 1]` → `[N, 256]` float 0/1.
pub fn mask_of_images(images: &Tensor) -> Tensor {
    let n = images.size()[0];
    let x = images
        .to_kind(Kind::Float)
        .view([n, 1, SIDE as i64, SIDE as i64]);
    x.avg_pool2d([2, 2], [2, 2], [0, 0], false, true, None::<i64>)
        .ge(0.5 - 1e-6)
        .to_kind(Kind::Float)
        .view([n, MASK_BITS as i64])
}

/// Intersection over union of binary masks `[N, K]` (any numeric kind, 0/1), per row; a row
/// where both masks are empty scores 1.
pub fn mask_iou(a: &Tensor, b: &Tensor) -> Tensor {
    let a = a.to_kind(Kind::Float).gt(0.5);
    let b = b.to_kind(Kind::Float).gt(0.5);
    let inter = a
        .logical_and(&b)
        .to_kind(Kind::Float)
        .sum_dim_intlist(1, false, Kind::Float);
    let union = a
        .logical_or(&b)
        .to_kind(Kind::Float)
        .sum_dim_intlist(1, false, Kind::Float);
    let empty = union.eq(0.0);
    (inter / union.clamp_min(1.0)).masked_fill(&empty, 1.0)
}

/// A quadrant of the position grid (x to the right, y downwards; each half is 16 of the 32
/// position classes).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Quadrant {
    /// `posX < 16`, `posY < 16`.
    UpperLeft,
    /// `posX ≥ 16`, `posY < 16`.
    UpperRight,
    /// `posX < 16`, `posY ≥ 16`.
    LowerLeft,
    /// `posX ≥ 16`, `posY ≥ 16`.
    LowerRight,
}

impl Quadrant {
    const NAMES: [(&'static str, Quadrant); 4] = [
        ("upper-left", Quadrant::UpperLeft),
        ("upper-right", Quadrant::UpperRight),
        ("lower-left", Quadrant::LowerLeft),
        ("lower-right", Quadrant::LowerRight),
    ];

    /// Whether position classes `(pos_x, pos_y)` (each `0..32`) lie in this quadrant.
    pub fn contains(self, pos_x: i64, pos_y: i64) -> bool {
        let half = NUM_POSITIONS / 2;
        let (left, up) = (pos_x < half, pos_y < half);
        match self {
            Quadrant::UpperLeft => left && up,
            Quadrant::UpperRight => !left && up,
            Quadrant::LowerLeft => left && !up,
            Quadrant::LowerRight => !left && !up,
        }
    }
}

/// A held-out factor combination: one shape in one quadrant. Written `shape:quadrant`, e.g.
/// `heart:upper-left`; shapes `square`, `ellipse`, `heart`; quadrants `upper-left`,
/// `upper-right`, `lower-left`, `lower-right`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Holdout {
    /// Shape class (0 square, 1 ellipse, 2 heart).
    pub shape: i64,
    /// Where that shape is held out.
    pub quadrant: Quadrant,
}

impl Holdout {
    /// The default: hearts in the upper-left quadrant (a quarter of the hearts, 12 288 images).
    pub const DEFAULT: Holdout = Holdout {
        shape: 2,
        quadrant: Quadrant::UpperLeft,
    };

    /// Whether latents `[color, shape, scale, orientation, posX, posY]` are held out.
    pub fn contains(&self, latents: &[i64; 6]) -> bool {
        latents[1] == self.shape && self.quadrant.contains(latents[4], latents[5])
    }

    /// Parses a comma-separated list of `shape:quadrant`, or `none` for the empty list.
    pub fn parse_list(s: &str) -> Result<Vec<Holdout>> {
        if s.trim() == "none" {
            return Ok(Vec::new());
        }
        s.split(',').map(|p| p.trim().parse()).collect()
    }
}

impl FromStr for Holdout {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        let bad = || {
            Error::config(
                "holdout",
                s,
                "expected `shape:quadrant` (shape: square, ellipse or heart; quadrant: \
                 upper-left, upper-right, lower-left or lower-right), a comma-separated list of \
                 them, or `none`",
            )
        };
        let (shape, quadrant) = s.split_once(':').ok_or_else(bad)?;
        let shape = SHAPES
            .iter()
            .position(|&n| n == shape.trim())
            .ok_or_else(bad)? as i64;
        let quadrant = Quadrant::NAMES
            .iter()
            .find(|(n, _)| *n == quadrant.trim())
            .ok_or_else(bad)?
            .1;
        Ok(Holdout { shape, quadrant })
    }
}

impl fmt::Display for Holdout {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let q = Quadrant::NAMES
            .iter()
            .find(|(_, q)| *q == self.quadrant)
            .map_or("?", |(n, _)| n);
        write!(f, "{}:{q}", SHAPES[self.shape as usize])
    }
}

/// Which parts of the structured label the data source serves as `y`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SpriteLabels {
    /// The four factor groups and the 256 mask bits: `D = 41 + 256 = 297`.
    #[default]
    All,
    /// The four factor groups only (`D = 41`, 4 608 configurations).
    Factors,
    /// The 256 mask bits only.
    Mask,
}

impl SpriteLabels {
    /// The label layout of this variant.
    pub fn layout(self) -> YLayout {
        let groups = FACTOR_GROUPS.to_vec();
        match self {
            SpriteLabels::All => YLayout::new(groups, MASK_BITS),
            SpriteLabels::Factors => YLayout::categorical(groups),
            SpriteLabels::Mask => YLayout::binary(MASK_BITS),
        }
        .expect("constant layouts are valid")
    }

    /// Whether the factor groups are part of `y` (first, in [`FACTOR_GROUPS`] order).
    pub fn has_factors(self) -> bool {
        self != SpriteLabels::Mask
    }

    /// Whether the mask bits are part of `y` (last).
    pub fn has_mask(self) -> bool {
        self != SpriteLabels::Factors
    }
}

impl FromStr for SpriteLabels {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "all" => Ok(Self::All),
            "factors" => Ok(Self::Factors),
            "mask" => Ok(Self::Mask),
            _ => Err(Error::config(
                "labels",
                s,
                "expected `all`, `factors` or `mask`",
            )),
        }
    }
}

/// Every image with its factors and mask, in generation order (shape, scale, orientation,
/// position x, position y fastest).
#[derive(Clone, Debug)]
pub struct SpriteScenes {
    /// Downsampled images in quarters (`0..=4`), `[N, 32, 32]` row-major.
    pub images: Vec<u8>,
    /// Masks `[N, 256]` row-major, 0/1.
    pub masks: Vec<u8>,
    /// Latent classes `[color, shape, scale, orientation, posX, posY]`.
    pub latents: Vec<[i64; 6]>,
}

impl SpriteScenes {
    /// Renders all [`NUM_IMAGES`] images (about a second in a release build).
    pub fn generate() -> Self {
        Self::generate_where(|_| true)
    }

    /// Renders the images whose latents satisfy `keep` (for tests and small subsets).
    pub fn generate_where(keep: impl Fn(&[i64; 6]) -> bool) -> Self {
        let (mut images, mut masks, mut latents) = (Vec::new(), Vec::new(), Vec::new());
        for shape in 0..3 {
            for s in 0..NUM_SCALES {
                for o in ORIENTATION_CLASSES {
                    for x in 0..NUM_POSITIONS {
                        for y in 0..NUM_POSITIONS {
                            let l = [0, shape, s, o, x, y];
                            if !keep(&l) {
                                continue;
                            }
                            let img = render_shape(
                                shape,
                                scale_value(s),
                                orientation_value(o),
                                position_value(x),
                                position_value(y),
                            );
                            images.extend(downsample_2x(&img, RENDER_SIDE));
                            masks.extend(mask_16(&img));
                            latents.push(l);
                        }
                    }
                }
            }
        }
        Self {
            images,
            masks,
            latents,
        }
    }

    /// Number of images.
    pub fn len(&self) -> usize {
        self.latents.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.latents.is_empty()
    }
}

/// One split with everything a judge needs, whatever the served label variant.
#[derive(Debug)]
pub struct SpriteSplit {
    /// `uint8` `[N, 1, 32, 32]` in quarters (intensity = value / 4).
    pub images: Tensor,
    /// `int64` `[N, 4]`: shape, scale, position x bin, position y bin.
    pub factors: Tensor,
    /// `uint8` `[N, 256]`: the mask bits.
    pub masks: Tensor,
}

impl SpriteSplit {
    /// Number of images.
    pub fn len(&self) -> usize {
        self.factors.size()[0] as usize
    }

    /// Whether the split is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Intensities in `[0, 1]`, float32 `[N, 1, 32, 32]`.
    pub fn intensities(&self) -> Tensor {
        self.images.to_kind(Kind::Float) / 4.0
    }

    /// The labels of `variant`, `uint8` `[N, V]` (factor values, then mask bits).
    pub fn labels(&self, variant: SpriteLabels) -> Tensor {
        match variant {
            SpriteLabels::All => Tensor::cat(
                &[
                    self.factors.to_kind(Kind::Uint8),
                    self.masks.shallow_clone(),
                ],
                1,
            ),
            SpriteLabels::Factors => self.factors.to_kind(Kind::Uint8),
            SpriteLabels::Mask => self.masks.shallow_clone(),
        }
    }

    fn image_split(&self, variant: SpriteLabels) -> ImageSplit {
        ImageSplit {
            images: self.images.shallow_clone(),
            labels: self.labels(variant),
            scale: 4.0,
        }
    }
}

/// Options of [`StructuredSprites`].
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct SpritesConfig {
    /// Which parts of the label are served as `y`.
    pub labels: SpriteLabels,
    /// Held-out factor combinations (the zero-shot split); default hearts upper-left.
    pub holdout: Vec<Holdout>,
    /// Test images (drawn from the combinations that are not held out).
    pub test_size: usize,
    /// Validation images, carved from the training data (for tuning).
    pub val_size: usize,
    /// Seed of the split.
    pub split_seed: u64,
    /// Fraction of training images whose mask is observed (the factors always are); the
    /// others' mask bits are unobserved labels (semi-supervised segmentation). 1 = all.
    pub mask_observed: f64,
    /// Seed of the choice of training images whose mask is observed.
    pub mask_seed: u64,
}

impl Default for SpritesConfig {
    fn default() -> Self {
        Self {
            labels: SpriteLabels::All,
            holdout: vec![Holdout::DEFAULT],
            test_size: 2_500,
            val_size: 2_500,
            split_seed: 0,
            mask_observed: 1.0,
            mask_seed: 0,
        }
    }
}

/// Structured sprites as a [`DataSource`]: `x` float32 `[B, 1, 32, 32]` in logit space (the
/// dSprites preprocessing: dequantised `(x·7 + u)/8`, then [`crate::to_logit`]); `y` as
/// [`SpriteLabels`] says (default: four one-hot factor groups, then 256 mask bits).
/// `test_set` serves the test split; [`Self::validation_set`] and [`Self::zero_shot_set`] the
/// others.
#[derive(Debug)]
pub struct StructuredSprites {
    inner: ImageBatcher,
    config: SpritesConfig,
    train: SpriteSplit,
    validation: SpriteSplit,
    test: SpriteSplit,
    zero_shot: SpriteSplit,
}

impl StructuredSprites {
    /// Renders every image and splits them as `config` says.
    pub fn generate(config: SpritesConfig) -> Result<Self> {
        Self::from_scenes(&SpriteScenes::generate(), config)
    }

    /// Splits rendered scenes (see the module docs).
    pub fn from_scenes(scenes: &SpriteScenes, config: SpritesConfig) -> Result<Self> {
        if !(config.mask_observed > 0.0 && config.mask_observed <= 1.0) {
            return Err(Error::config(
                "mask_observed",
                config.mask_observed,
                "must be in (0, 1]",
            ));
        }
        if config.mask_observed < 1.0 && !config.labels.has_mask() {
            return Err(Error::config(
                "mask_observed",
                config.mask_observed,
                "the labels have no mask (labels = factors); use 1",
            ));
        }
        let (held, kept): (Vec<usize>, Vec<usize>) = (0..scenes.len()).partition(|&i| {
            config
                .holdout
                .iter()
                .any(|h| h.contains(&scenes.latents[i]))
        });
        let n = kept.len();
        if config.test_size == 0 || config.val_size == 0 || config.test_size + config.val_size >= n
        {
            return Err(Error::config(
                "test_size",
                config.test_size,
                format!(
                    "test_size and val_size ({}) must be ≥ 1 and leave training images ({n} are not held out)",
                    config.val_size
                ),
            ));
        }
        let perm = seeded_permutation(n, config.split_seed);
        let kept: Vec<usize> = perm.into_iter().map(|p| kept[p]).collect();
        let held: Vec<usize> = seeded_permutation(held.len(), config.split_seed ^ 0x5a5a)
            .into_iter()
            .map(|p| held[p])
            .collect();
        let (test_idx, rest) = kept.split_at(config.test_size);
        let (val_idx, train_idx) = rest.split_at(config.val_size);
        let side = SIDE as i64;
        let split = |idx: &[usize]| {
            let m = idx.len() as i64;
            let mut images = Vec::with_capacity(idx.len() * SIDE * SIDE);
            let mut masks = Vec::with_capacity(idx.len() * MASK_BITS);
            let mut factors = Vec::with_capacity(idx.len() * 4);
            for &i in idx {
                images.extend_from_slice(&scenes.images[i * SIDE * SIDE..(i + 1) * SIDE * SIDE]);
                masks.extend_from_slice(&scenes.masks[i * MASK_BITS..(i + 1) * MASK_BITS]);
                let l = scenes.latents[i];
                factors.extend([l[1], l[2], l[4] / 2, l[5] / 2]);
            }
            SpriteSplit {
                images: Tensor::from_slice(&images).view([m, 1, side, side]),
                factors: Tensor::from_slice(&factors).view([m, 4]),
                masks: Tensor::from_slice(&masks).view([m, MASK_BITS as i64]),
            }
        };
        let (train, validation, test, zero_shot) = (
            split(train_idx),
            split(val_idx),
            split(test_idx),
            split(&held),
        );
        let layout = config.labels.layout();
        let observed = (config.mask_observed < 1.0).then(|| {
            let mut rng = SplitMix64::new(config.mask_seed);
            let keep: Vec<bool> = (0..train.len())
                .map(|_| rng.next_f64() < config.mask_observed)
                .collect();
            let keep = Tensor::from_slice(&keep).view([-1, 1]);
            let factors = usize::from(config.labels.has_factors()) * FACTOR_GROUPS.len();
            let f = Tensor::ones(
                [train.len() as i64, factors as i64],
                (Kind::Bool, Device::Cpu),
            );
            let m = keep.expand([-1, MASK_BITS as i64], false);
            Tensor::cat(&[f, m], 1)
        });
        let inner = ImageBatcher::with_observed(
            layout,
            train.image_split(config.labels),
            test.image_split(config.labels),
            Preprocess::DSPRITES,
            observed,
        )?;
        Ok(Self {
            inner,
            config,
            train,
            validation,
            test,
            zero_shot,
        })
    }

    /// The options the data was split with.
    pub fn config(&self) -> &SpritesConfig {
        &self.config
    }

    /// The training split.
    pub fn train(&self) -> &SpriteSplit {
        &self.train
    }

    /// The validation split (carved from the training data).
    pub fn validation(&self) -> &SpriteSplit {
        &self.validation
    }

    /// The test split.
    pub fn test(&self) -> &SpriteSplit {
        &self.test
    }

    /// The held-out combinations (never trained on).
    pub fn zero_shot(&self) -> &SpriteSplit {
        &self.zero_shot
    }

    /// The fixed observed-label mask of the training split, `[N, V]` bool (`None`: all
    /// observed).
    pub fn observed(&self) -> Option<&Tensor> {
        self.inner.observed()
    }

    /// The first `max` validation images as a batch (fresh dequantisation noise).
    pub fn validation_set(&self, max: i64, device: Device) -> Result<Batch> {
        self.inner.first_of(
            &self.validation.image_split(self.config.labels),
            max,
            device,
        )
    }

    /// The first `max` zero-shot images as a batch (fresh dequantisation noise).
    pub fn zero_shot_set(&self, max: i64, device: Device) -> Result<Batch> {
        if self.zero_shot.is_empty() {
            return Err(Error::config(
                "holdout",
                "none",
                "there is no held-out combination, so no zero-shot set",
            ));
        }
        self.inner
            .first_of(&self.zero_shot.image_split(self.config.labels), max, device)
    }
}

impl DataSource for StructuredSprites {
    fn y_layout(&self) -> &YLayout {
        &self.inner.layout
    }

    fn x_shape(&self) -> Vec<i64> {
        self.inner.x_shape()
    }

    fn next_batch(&mut self, batch_size: i64, device: Device) -> Result<Batch> {
        self.inner.next_batch(batch_size, device)
    }

    fn test_set(&mut self, max: i64, device: Device) -> Result<Batch> {
        self.inner.test_set(max, device)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn area(img: &[u8]) -> usize {
        img.iter().map(|&v| usize::from(v)).sum()
    }

    #[test]
    fn shapes_have_the_documented_areas_and_stay_inside() {
        let a: Vec<usize> = (0..3)
            .map(|s| area(&render_shape(s, 1.0, 0.0, 0.5, 0.5)))
            .collect();
        assert!((a[0] as f64 - 300.0).abs() < 30.0, "square {a:?}");
        assert!((a[1] as f64 - 235.0).abs() < 10.0, "ellipse {a:?}");
        assert!((a[2] as f64 - 290.0).abs() < 30.0, "heart {a:?}");
        // Every shape at the largest scale, every orientation, at the corners: inside.
        for s in 0..3 {
            for o in ORIENTATION_CLASSES {
                for (x, y) in [(0.0, 0.0), (1.0, 1.0), (0.0, 1.0), (1.0, 0.0)] {
                    let img = render_shape(s, 1.0, orientation_value(o), x, y);
                    let n = RENDER_SIDE;
                    assert!((0..n).all(|k| img[k] == 0
                        && img[(n - 1) * n + k] == 0
                        && img[k * n] == 0
                        && img[k * n + n - 1] == 0));
                }
            }
        }
        // The heart's point is down at orientation 0: more pixels in the upper half.
        let h = render_shape(2, 1.0, 0.0, 0.5, 0.5);
        let upper = area(&h[..32 * 64]);
        assert!(upper > area(&h) / 2, "{upper} of {}", area(&h));
    }

    #[test]
    fn the_mask_is_the_block_majority_and_the_judge_reads_it_back() {
        let scenes = SpriteScenes::generate_where(|l| l[2] % 5 == 0 && l[4] % 7 == 0);
        assert!(!scenes.is_empty());
        let n = scenes.len() as i64;
        let images = Tensor::from_slice(&scenes.images)
            .view([n, 1, 32, 32])
            .to_kind(Kind::Float)
            / 4.0;
        let masks = Tensor::from_slice(&scenes.masks).view([n, 256]);
        let read = mask_of_images(&images);
        assert!(read.to_kind(Kind::Uint8).equal(&masks), "judge = data rule");
        assert!(bool::try_from(mask_iou(&read, &masks).eq(1.0).all()).unwrap());
        // A mask covers about the sprite's area: between ½ and 2 × area / 16 bits.
        for i in 0..scenes.len() {
            let bits = area(&scenes.masks[i * 256..(i + 1) * 256]) as f64;
            // quarters of the 32 × 32 image = pixels set on the 64 × 64 canvas
            let px = area(&scenes.images[i * 1024..(i + 1) * 1024]) as f64;
            let expect = px / 16.0;
            assert!(
                bits > 0.5 * expect && bits < 2.0 * expect,
                "{i}: {bits} bits, {expect}"
            );
        }
        let half = Tensor::from_slice(&[1.0f32, 0.0, 1.0, 1.0, 0.0, 0.0]).view([2, 3]);
        let other = Tensor::from_slice(&[1.0f32, 1.0, 0.0, 1.0, 0.0, 0.0]).view([2, 3]);
        let iou = Vec::<f32>::try_from(mask_iou(&half, &other)).unwrap();
        assert_eq!(iou, [1.0 / 3.0, 1.0]);
    }

    #[test]
    fn holdout_syntax() {
        assert_eq!(
            Holdout::parse_list("heart:upper-left").unwrap(),
            [Holdout::DEFAULT]
        );
        let two = Holdout::parse_list("square:lower-right, ellipse:upper-right").unwrap();
        assert_eq!(two.len(), 2);
        assert_eq!(two[0].to_string(), "square:lower-right");
        assert!(Holdout::parse_list("none").unwrap().is_empty());
        for bad in ["heart", "star:upper-left", "heart:middle", ""] {
            assert!(Holdout::parse_list(bad).is_err(), "{bad}");
        }
        assert!(Quadrant::UpperLeft.contains(15, 0) && !Quadrant::UpperLeft.contains(16, 0));
        assert!(Quadrant::LowerRight.contains(31, 16));
    }

    #[test]
    fn splits_layouts_holdout_and_partial_masks() {
        // A subset (one orientation, even scales) keeps the test fast in debug builds.
        let scenes = SpriteScenes::generate_where(|l| l[3] == 0 && l[2] % 2 == 0);
        let n = scenes.len(); // 3 × 3 × 1024
        let cfg = SpritesConfig {
            test_size: 500,
            val_size: 300,
            mask_observed: 0.1,
            mask_seed: 3,
            ..SpritesConfig::default()
        };
        let mut ds = StructuredSprites::from_scenes(&scenes, cfg.clone()).unwrap();
        let held = 3 * 256; // hearts, 3 scales, 16 × 16 upper-left positions
        assert_eq!(ds.zero_shot().len(), held);
        assert_eq!(ds.test().len(), 500);
        assert_eq!(ds.validation().len(), 300);
        assert_eq!(ds.train().len(), n - held - 800);
        // Zero-shot = exactly the hearts upper-left; none of them anywhere else.
        let zf = Vec::<i64>::try_from(ds.zero_shot().factors.view([-1])).unwrap();
        assert!(zf.chunks(4).all(|f| f[0] == 2 && f[2] < 8 && f[3] < 8));
        for s in [ds.train(), ds.validation(), ds.test()] {
            let f = Vec::<i64>::try_from(s.factors.view([-1])).unwrap();
            assert!(f.chunks(4).all(|f| !(f[0] == 2 && f[2] < 8 && f[3] < 8)));
        }
        assert_eq!(ds.y_layout().dim(), 41 + 256);
        assert_eq!(ds.y_layout().num_vars(), 4 + 256);
        let b = ds.next_batch(64, Device::Cpu).unwrap();
        assert_eq!(b.y.size(), [64, 297]);
        ds.y_layout().validate("test", "y", &b.y).unwrap();
        let obs = b.observed.unwrap();
        assert_eq!(obs.size(), [64, 260]);
        // Factors always observed; the mask all-or-nothing per image, about 10 % of images.
        assert!(bool::try_from(obs.narrow(1, 0, 4).all()).unwrap());
        let m = ds
            .observed()
            .unwrap()
            .narrow(1, 4, 256)
            .to_kind(Kind::Int64);
        let per_image = m.sum_dim_intlist(1, false, Kind::Int64);
        assert!(bool::try_from(per_image.eq(0).logical_or(&per_image.eq(256)).all()).unwrap());
        let frac =
            f64::try_from(per_image.to_kind(Kind::Double).mean(Kind::Double)).unwrap() / 256.0;
        assert!((frac - 0.1).abs() < 0.02, "{frac}");
        // The test batch's labels decode to the split's factors and masks.
        let t = ds.test_set(20, Device::Cpu).unwrap();
        let v = ds.y_layout().decode(&t.y);
        assert!(v.narrow(1, 0, 4).equal(&ds.test().factors.narrow(0, 0, 20)));
        assert!(v
            .narrow(1, 4, 256)
            .equal(&ds.test().masks.narrow(0, 0, 20).to_kind(Kind::Int64)));
        // The same split again from the seed; variants' layouts.
        let again = StructuredSprites::from_scenes(&scenes, cfg.clone()).unwrap();
        assert!(again.test().images.equal(&ds.test().images));
        for (labels, d) in [(SpriteLabels::Factors, 41), (SpriteLabels::Mask, 256)] {
            let c = SpritesConfig {
                labels,
                mask_observed: 1.0,
                ..cfg.clone()
            };
            let mut v = StructuredSprites::from_scenes(&scenes, c).unwrap();
            assert_eq!(v.next_batch(8, Device::Cpu).unwrap().y.size(), [8, d]);
        }
        let z = ds.zero_shot_set(10, Device::Cpu).unwrap();
        assert_eq!(z.x.size(), [10, 1, 32, 32]);
        // Bad options are errors.
        let bad = SpritesConfig {
            labels: SpriteLabels::Factors,
            ..cfg.clone()
        };
        assert!(StructuredSprites::from_scenes(&scenes, bad).is_err());
        let none = SpritesConfig {
            holdout: vec![],
            mask_observed: 1.0,
            ..cfg
        };
        let none = StructuredSprites::from_scenes(&scenes, none).unwrap();
        assert!(none.zero_shot_set(1, Device::Cpu).is_err());
    }
}
