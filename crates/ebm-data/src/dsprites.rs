//! The paper's dSprites subset (docs/REFERENCE-NOTES.md §7.3, appendix B.3): ellipses at the 8
//! orientations nearest 0°, 90°, 180°, 270°, all 6 scales, 32 × 32 positions binned to 16 × 16,
//! rendered at 64 × 64 and downsampled to 32 × 32 — 1 × 8 × 6 × 32 × 32 = 49,152 images, 2,500
//! of them test.
//!
//! Two sources give the same subset in the same order (the original's latent order: scale,
//! orientation, position x, position y fastest):
//!
//! - [`DSpritesSubset::generate`] renders it procedurally (no files needed);
//! - [`DSpritesSubset::from_npz`] selects it from the original
//!   `dsprites_ndarray_co1sh3sc6or40x32y32_64x64.npz`, reading only `imgs` and
//!   `latents_classes`.
//!
//! # The procedural renderer
//!
//! DeepMind did not publish the generator, so [`render_ellipse`] is a documented
//! approximation whose geometry was measured on the images rendered in the dataset's own
//! example notebook (`dsprites_reloading_example.ipynb`): there the ellipses have an axis ratio
//! ≈ 1.75 and at scale 1 an area ≈ 235 px (π · 11.5 · 6.5 ≈ 234.8), sprite centres span
//! ≈ 16…48 px on both axes (posX = 0 puts the centre at x ≈ 16 px), and at orientation
//! 0.805 rad the ellipse's major axis points up-right at ≈ 46°. Hence, on the 64 × 64 canvas
//! with pixel `(r, c)` covering `[c, c+1] × [r, r+1]`:
//!
//! - centre `(16 + 32·posX, 16 + 32·posY)` px (x to the right, y = row downwards), with
//!   `posX, posY = class / 31` (`linspace(0, 1, 32)`);
//! - semi-axes `scale · 11.5` px (major) and `scale · 6.5` px (minor), `scale = linspace(0.5, 1, 6)`;
//! - major axis horizontal at orientation 0, rotated counter-clockwise on screen by the
//!   orientation `2π·class/39` (`linspace(0, 2π, 40)`);
//! - a pixel is 1 iff its centre lies inside the ellipse (binary image, like the original).
//!
//! The whole sprite stays inside the canvas (its extent is at most 16 ± 11.5 px from the
//! border), as in the original. Downsampling ([`downsample_2x`]) is exactly
//! `F.interpolate(mode='bilinear', align_corners=False)` by a factor ½: the mean of each 2 × 2
//! block, i.e. a multiple of ¼, stored as quarters (`0..=4`).
//!
//! Labels are the position bins `[posX // 2, posY // 2]` (two 16-way groups).

use crate::file_error;
use crate::images::{ImageBatcher, ImageSplit};
use crate::npz::Npz;
use crate::preprocess::Preprocess;
use crate::seeded::seeded_permutation;
use crate::{Batch, DataSource};
use ebm_core::{Error, Result, YLayout};
use std::f64::consts::PI;
use std::path::Path;
use tch::{Device, Tensor};

/// File name of the original dataset.
pub const DSPRITES_NPZ: &str = "dsprites_ndarray_co1sh3sc6or40x32y32_64x64.npz";
/// Shape class of the ellipse (square 0, ellipse 1, heart 2).
pub const ELLIPSE_CLASS: i64 = 1;
/// The orientation classes (of 40 over `[0, 2π]`) kept: the two nearest each of 0°, 90°,
/// 180°, 270°/360°.
pub const ORIENTATION_CLASSES: [i64; 8] = [0, 9, 10, 19, 20, 29, 30, 39];
/// Number of orientation classes of the original.
pub const NUM_ORIENTATIONS: i64 = 40;
/// Number of scale classes (`linspace(0.5, 1, 6)`).
pub const NUM_SCALES: i64 = 6;
/// Number of position classes per axis (`linspace(0, 1, 32)`).
pub const NUM_POSITIONS: i64 = 32;
/// Number of position bins per axis (class // 2).
pub const POSITION_BINS: usize = 16;
/// Size of the subset: 8 orientations × 6 scales × 32 × 32 positions.
pub const SUBSET_SIZE: usize = 49_152;
/// The paper's test-set size.
pub const DEFAULT_TEST_SIZE: usize = 2_500;
/// Side of the original images.
pub const RENDER_SIDE: usize = 64;
/// Side of the downsampled images.
pub const SIDE: usize = 32;
/// Semi-major axis of the rendered ellipse at scale 1, in pixels of the 64 × 64 canvas.
pub const SEMI_MAJOR_PX: f64 = 11.5;
/// Semi-minor axis of the rendered ellipse at scale 1, in pixels of the 64 × 64 canvas.
pub const SEMI_MINOR_PX: f64 = 6.5;
/// Sprite centre at position 0, in pixels of the 64 × 64 canvas.
pub const POSITION_MIN_PX: f64 = 16.0;
/// Distance in pixels between the sprite centres at positions 0 and 1.
pub const POSITION_RANGE_PX: f64 = 32.0;

/// Scale value of scale class `c` (`0.5 + 0.1·c`).
pub fn scale_value(class: i64) -> f64 {
    0.5 + 0.5 * class as f64 / (NUM_SCALES - 1) as f64
}

/// Orientation in radians of orientation class `c` (`2π·c/39`).
pub fn orientation_value(class: i64) -> f64 {
    2.0 * PI * class as f64 / (NUM_ORIENTATIONS - 1) as f64
}

/// Position value in `[0, 1]` of position class `c` (`c/31`).
pub fn position_value(class: i64) -> f64 {
    class as f64 / (NUM_POSITIONS - 1) as f64
}

/// Whether a latent-class row `[color, shape, scale, orientation, posX, posY]` belongs to the
/// paper's subset (ellipse, one of [`ORIENTATION_CLASSES`]).
pub fn in_subset(latents: &[i64; 6]) -> bool {
    latents[1] == ELLIPSE_CLASS && ORIENTATION_CLASSES.contains(&latents[3])
}

/// Renders an ellipse on the 64 × 64 canvas as described in the module docs: row-major
/// binary image (`0`/`1`, length 4096).
pub fn render_ellipse(scale: f64, orientation: f64, pos_x: f64, pos_y: f64) -> Vec<u8> {
    let n = RENDER_SIDE;
    let mut img = vec![0u8; n * n];
    let (a, b) = (scale * SEMI_MAJOR_PX, scale * SEMI_MINOR_PX);
    let (cx, cy) = (
        POSITION_MIN_PX + POSITION_RANGE_PX * pos_x,
        POSITION_MIN_PX + POSITION_RANGE_PX * pos_y,
    );
    let (sin, cos) = orientation.sin_cos();
    let lo = |c: f64| ((c - a - 1.0).floor().max(0.0)) as usize;
    let hi = |c: f64| ((c + a + 1.0).ceil().min(n as f64)) as usize;
    for r in lo(cy)..hi(cy) {
        for c in lo(cx)..hi(cx) {
            // centre offset in a y-up frame, then rotated by −orientation into the ellipse frame
            let dx = c as f64 + 0.5 - cx;
            let dy = cy - (r as f64 + 0.5);
            let u = dx * cos + dy * sin;
            let v = -dx * sin + dy * cos;
            if (u / a).powi(2) + (v / b).powi(2) <= 1.0 {
                img[r * n + c] = 1;
            }
        }
    }
    img
}

/// Downsamples a binary `side × side` image (row-major, values 0/1) by 2 with bilinear
/// interpolation, `align_corners = false` — for a factor of exactly ½ the mean of each 2 × 2
/// block — returned in quarters: `(side/2)²` values in `0..=4` (intensity = value / 4).
pub fn downsample_2x(img: &[u8], side: usize) -> Vec<u8> {
    let h = side / 2;
    let mut out = vec![0u8; h * h];
    for r in 0..h {
        for c in 0..h {
            let at = |rr: usize, cc: usize| img[rr * side + cc];
            out[r * h + c] = at(2 * r, 2 * c)
                + at(2 * r, 2 * c + 1)
                + at(2 * r + 1, 2 * c)
                + at(2 * r + 1, 2 * c + 1);
        }
    }
    out
}

/// The selected images of the subset in the original's order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DSpritesSubset {
    /// Downsampled images in quarters (`0..=4`), `[N, 32, 32]` row-major.
    pub images: Vec<u8>,
    /// Latent classes `[color, shape, scale, orientation, posX, posY]` of each image.
    pub latents: Vec<[i64; 6]>,
}

impl DSpritesSubset {
    /// Number of images.
    pub fn len(&self) -> usize {
        self.latents.len()
    }

    /// Whether there are no images.
    pub fn is_empty(&self) -> bool {
        self.latents.is_empty()
    }

    /// The labels `[posX // 2, posY // 2]` of each image.
    pub fn position_bins(&self) -> Vec<[i64; 2]> {
        self.latents.iter().map(|l| [l[4] / 2, l[5] / 2]).collect()
    }

    /// Renders the 49,152 images of the subset with [`render_ellipse`], in the original's
    /// order (scale, orientation, posX, posY fastest).
    pub fn generate() -> Self {
        let mut images = Vec::with_capacity(SUBSET_SIZE * SIDE * SIDE);
        let mut latents = Vec::with_capacity(SUBSET_SIZE);
        for s in 0..NUM_SCALES {
            for o in ORIENTATION_CLASSES {
                for x in 0..NUM_POSITIONS {
                    for y in 0..NUM_POSITIONS {
                        let img = render_ellipse(
                            scale_value(s),
                            orientation_value(o),
                            position_value(x),
                            position_value(y),
                        );
                        images.extend(downsample_2x(&img, RENDER_SIDE));
                        latents.push([0, ELLIPSE_CLASS, s, o, x, y]);
                    }
                }
            }
        }
        Self { images, latents }
    }

    /// Selects the subset from the original `.npz` at `path`, reading only `latents_classes`
    /// (int64 `[N, 6]`) and `imgs` (uint8 `[N, 64, 64]`, binary), the latter streamed image by
    /// image up to the last selected one. Errors name the file and entry: missing entries,
    /// wrong dtype or shape, truncated data, latent classes out of range, non-binary pixels, no
    /// selected image.
    pub fn from_npz(path: &Path) -> Result<Self> {
        let mut npz = Npz::open(path)?;
        let (shape, classes) = npz.read_i64("latents_classes")?;
        if shape.len() != 2 || shape[1] != 6 {
            return Err(file_error(
                path,
                format!("entry `latents_classes` has shape {shape:?}, expected [N, 6]"),
            ));
        }
        let n = shape[0];
        let limits = [
            1,
            3,
            NUM_SCALES,
            NUM_ORIENTATIONS,
            NUM_POSITIONS,
            NUM_POSITIONS,
        ];
        let mut selected = Vec::new();
        for (i, row) in classes.chunks_exact(6).enumerate() {
            let row = [row[0], row[1], row[2], row[3], row[4], row[5]];
            if in_subset(&row) {
                if let Some(k) = (0..6).find(|&k| !(0..limits[k]).contains(&row[k])) {
                    return Err(file_error(
                        path,
                        format!(
                            "entry `latents_classes`: row {i} is {row:?}; latent {k} must be in 0..{}",
                            limits[k]
                        ),
                    ));
                }
                selected.push((i, row));
            }
        }
        let Some(&(last, _)) = selected.last() else {
            return Err(file_error(
                path,
                "no image of the subset (shape class 1 = ellipse, orientation classes 0, 9, 10, 19, 20, 29, 30, 39) in `latents_classes`",
            ));
        };
        let mut imgs = npz.array("imgs")?;
        imgs.expect_dtype(&["|u1", "<u1", ">u1", "=u1", "u1"], "uint8")?;
        let want = [n, RENDER_SIDE, RENDER_SIDE];
        if imgs.header().shape != want {
            return Err(file_error(
                path,
                format!(
                    "entry `imgs` has shape {:?}, expected {want:?} (N from `latents_classes`)",
                    imgs.header().shape
                ),
            ));
        }
        let mut buf = vec![0u8; RENDER_SIDE * RENDER_SIDE];
        let mut images = Vec::with_capacity(selected.len() * SIDE * SIDE);
        let mut next = selected.iter().peekable();
        for i in 0..=last {
            imgs.read_exact(&mut buf)?;
            if next.peek().is_some_and(|&&(j, _)| j == i) {
                next.next();
                if let Some(p) = buf.iter().position(|&v| v > 1) {
                    return Err(file_error(
                        path,
                        format!(
                            "entry `imgs`: image {i} has pixel value {} at {p}, expected binary 0/1",
                            buf[p]
                        ),
                    ));
                }
                images.extend(downsample_2x(&buf, RENDER_SIDE));
            }
        }
        Ok(Self {
            images,
            latents: selected.into_iter().map(|(_, row)| row).collect(),
        })
    }
}

/// Options of [`DSprites`].
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct DSpritesConfig {
    /// Number of test images (the paper: 2,500).
    pub test_size: usize,
    /// Seed of the split: the subset is permuted with [`seeded_permutation`]`(N, split_seed)`;
    /// the first `test_size` images are the test set (in that order), the rest train.
    pub split_seed: u64,
    /// Fraction of the two label variables hidden per training example (fixed per example,
    /// at least one kept; see [`crate::hide_labels`]).
    pub missing_fraction: f64,
    /// Seed of the fixed observed-label mask.
    pub mask_seed: u64,
}

impl Default for DSpritesConfig {
    fn default() -> Self {
        Self {
            test_size: DEFAULT_TEST_SIZE,
            split_seed: 0,
            missing_fraction: 0.0,
            mask_seed: 0,
        }
    }
}

/// The dSprites subset as a [`DataSource`]: `x` float32 `[B, 1, 32, 32]` in logit space
/// (dequantised `(x·7 + u)/8` with fresh noise per load, then [`crate::to_logit`]); `y` two
/// 16-way one-hot groups `[B, 32]` (x-position bin, y-position bin).
///
/// Training batches follow a fresh `randperm` (torch's generator) every epoch and the last
/// partial batch is dropped; `test_set(max)` returns the first `max` test examples.
#[derive(Debug)]
pub struct DSprites {
    inner: ImageBatcher,
    test_indices: Vec<usize>,
}

impl DSprites {
    /// From the original `.npz` at `npz`, or generated when `npz` is `None`.
    pub fn new(npz: Option<&Path>, config: DSpritesConfig) -> Result<Self> {
        let subset = match npz {
            Some(p) => DSpritesSubset::from_npz(p)?,
            None => DSpritesSubset::generate(),
        };
        Self::from_subset(&subset, config)
    }

    /// The procedurally rendered subset (49,152 images: 46,652 train / 2,500 test by default).
    pub fn generate(config: DSpritesConfig) -> Result<Self> {
        Self::from_subset(&DSpritesSubset::generate(), config)
    }

    /// The subset selected from the original `.npz`.
    pub fn from_npz(path: &Path, config: DSpritesConfig) -> Result<Self> {
        Self::from_subset(&DSpritesSubset::from_npz(path)?, config)
    }

    /// Splits a subset: permutation [`seeded_permutation`]`(N, split_seed)`, the first
    /// `test_size` images test, the rest train (both in permuted order).
    pub fn from_subset(subset: &DSpritesSubset, config: DSpritesConfig) -> Result<Self> {
        let n = subset.len();
        if config.test_size == 0 || config.test_size >= n {
            return Err(Error::config(
                "test_size",
                config.test_size,
                format!("must be in 1..{n} (the subset has {n} images)"),
            ));
        }
        let perm = seeded_permutation(n, config.split_seed);
        let side = SIDE as i64;
        let images = Tensor::from_slice(&subset.images).view([n as i64, 1, side, side]);
        let bins: Vec<i64> = subset.position_bins().into_iter().flatten().collect();
        let labels = Tensor::from_slice(&bins).view([n as i64, 2]);
        let split = |idx: &[usize]| {
            let idx: Vec<i64> = idx.iter().map(|&i| i as i64).collect();
            let idx = Tensor::from_slice(&idx);
            ImageSplit {
                images: images.index_select(0, &idx),
                labels: labels.index_select(0, &idx),
                scale: 4.0,
            }
        };
        let (test_idx, train_idx) = perm.split_at(config.test_size);
        let inner = ImageBatcher::new(
            YLayout::categorical(vec![POSITION_BINS, POSITION_BINS])?,
            split(train_idx),
            split(test_idx),
            Preprocess::DSPRITES,
            config.missing_fraction,
            config.mask_seed,
        )?;
        Ok(Self {
            inner,
            test_indices: test_idx.to_vec(),
        })
    }

    /// The training split (images in quarters, `uint8` `[N, 1, 32, 32]`; labels `[N, 2]`).
    pub fn train(&self) -> &ImageSplit {
        &self.inner.train
    }

    /// The test split (images in quarters, `uint8` `[M, 1, 32, 32]`; labels `[M, 2]`).
    pub fn test(&self) -> &ImageSplit {
        &self.inner.test
    }

    /// Positions in the subset's order of the test images, in test-set order.
    pub fn test_indices(&self) -> &[usize] {
        &self.test_indices
    }

    /// The fixed observed-label mask of the training split, `[N, 2]` bool (`None`: all
    /// observed).
    pub fn observed(&self) -> Option<&Tensor> {
        self.inner.observed()
    }
}

impl DataSource for DSprites {
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
    use crate::npz::testing::{npy_bytes, pickled_npy, write_npz};
    use tch::Kind;

    /// Centre of mass (x = column, y = row) of a 32 × 32 quarter image.
    fn centroid(img: &[u8]) -> (f64, f64) {
        let (mut m, mut sx, mut sy) = (0.0, 0.0, 0.0);
        for r in 0..SIDE {
            for c in 0..SIDE {
                let v = f64::from(img[r * SIDE + c]);
                m += v;
                sx += v * c as f64;
                sy += v * r as f64;
            }
        }
        (sx / m, sy / m)
    }

    #[test]
    fn generated_subset_has_correct_labels_and_split() {
        let t0 = std::time::Instant::now();
        let subset = DSpritesSubset::generate();
        assert_eq!(subset.len(), SUBSET_SIZE);
        assert_eq!(subset.images.len(), SUBSET_SIZE * SIDE * SIDE);
        let img = |i: usize| &subset.images[i * SIDE * SIDE..(i + 1) * SIDE * SIDE];
        // Every (x-bin, y-bin) pair equally often: 8 orientations × 6 scales × 2 × 2.
        let mut pairs = vec![0usize; POSITION_BINS * POSITION_BINS];
        for [bx, by] in subset.position_bins() {
            pairs[bx as usize * POSITION_BINS + by as usize] += 1;
        }
        assert!(pairs.iter().all(|&c| c == 192), "{pairs:?}");
        // Centre of mass strictly increasing in posX (fixed everything else) and in posY; the
        // sprite never touches the border; the area grows with the scale.
        let np = NUM_POSITIONS as usize;
        for (i, l) in subset.latents.iter().enumerate() {
            assert!(in_subset(l));
            let im = img(i);
            assert!(im.iter().any(|&v| v > 0));
            assert!((0..SIDE).all(|k| im[k] == 0
                && im[(SIDE - 1) * SIDE + k] == 0
                && im[k * SIDE] == 0
                && im[k * SIDE + SIDE - 1] == 0));
            let (cx, cy) = centroid(im);
            if l[4] > 0 {
                let (px, _) = centroid(img(i - np));
                assert!(cx > px, "image {i} {l:?}: x centroid {cx} ≤ {px}");
            }
            if l[5] > 0 {
                let (_, py) = centroid(img(i - 1));
                assert!(cy > py, "image {i} {l:?}: y centroid {cy} ≤ {py}");
            }
            // Centroid in 32-px coordinates ≈ (16 + 32·pos)/2 − ½.
            let ex = (POSITION_MIN_PX + POSITION_RANGE_PX * position_value(l[4])) / 2.0 - 0.5;
            assert!(
                (cx - ex).abs() < 0.3,
                "image {i}: x centroid {cx}, expected ≈ {ex}"
            );
        }
        let area = |s: i64| -> u32 {
            let i = subset.latents.iter().position(|l| l[2] == s).unwrap();
            img(i).iter().map(|&v| u32::from(v)).sum()
        };
        assert!((0..NUM_SCALES - 1).all(|s| area(s) < area(s + 1)));
        // Scale 1: π·11.5·6.5 ≈ 234.8 px at 64² → ≈ 58.7 at 32², i.e. ≈ 235 quarters.
        assert!((area(NUM_SCALES - 1) as f64 - 234.8).abs() < 8.0);

        // The split: 2,500 test, 46,652 train, disjoint, reproducible from the seed.
        let ds = DSprites::from_subset(&subset, DSpritesConfig::default()).unwrap();
        assert_eq!(ds.test().len(), 2500);
        assert_eq!(ds.train().len(), 46_652);
        assert_eq!(
            ds.test_indices(),
            &seeded_permutation(SUBSET_SIZE, 0)[..2500]
        );
        let again = DSprites::from_subset(&subset, DSpritesConfig::default()).unwrap();
        assert_eq!(ds.test_indices(), again.test_indices());
        assert!(ds.test().images.equal(&again.test().images));
        let other = DSpritesConfig {
            split_seed: 1,
            ..DSpritesConfig::default()
        };
        let other = DSprites::from_subset(&subset, other).unwrap();
        assert_ne!(ds.test_indices(), other.test_indices());
        // Test labels and images are those of the subset entries they came from.
        let bins = subset.position_bins();
        let test_labels = Vec::<i64>::try_from(ds.test().labels.view([-1])).unwrap();
        for (k, &i) in ds.test_indices().iter().enumerate().take(50) {
            assert_eq!(test_labels[2 * k..2 * k + 2], bins[i]);
            let t = Vec::<u8>::try_from(ds.test().images.get(k as i64).view([-1])).unwrap();
            assert_eq!(t, img(i));
        }
        eprintln!("generate + checks + 3 splits: {:?}", t0.elapsed());
    }

    #[test]
    fn batches_and_fixed_label_mask() {
        let subset = DSpritesSubset::generate();
        let cfg = DSpritesConfig {
            missing_fraction: 0.5,
            mask_seed: 11,
            ..DSpritesConfig::default()
        };
        let mut ds = DSprites::from_subset(&subset, cfg).unwrap();
        assert_eq!(ds.x_shape(), [1, 32, 32]);
        assert_eq!(ds.y_layout().groups(), [16, 16]);
        let mask = ds.observed().unwrap();
        assert_eq!(mask.size(), [46_652, 2]);
        // v = 2, fraction ½: every example hides exactly one of its two labels.
        let kept = mask.sum_dim_intlist([1i64].as_slice(), false, Kind::Int64);
        assert!(bool::try_from(kept.eq(1).all()).unwrap());
        let same = DSprites::from_subset(&subset, cfg).unwrap();
        assert!(
            mask.equal(same.observed().unwrap()),
            "mask fixed by its seed"
        );
        let b = ds.next_batch(256, Device::Cpu).unwrap();
        assert_eq!(b.x.size(), [256, 1, 32, 32]);
        assert_eq!(b.x.kind(), Kind::Float);
        assert_eq!(b.y.size(), [256, 32]);
        assert_eq!(b.observed.as_ref().unwrap().size(), [256, 2]);
        // dSprites dequantisation: intensities q/4 map into [7q/32, (7q/4 + 1)/8).
        let back = crate::from_logit(&b.x);
        assert!(bool::try_from(back.ge(0.0).all()).unwrap());
        let t = ds.test_set(10, Device::Cpu).unwrap();
        assert_eq!(t.x.size(), [10, 1, 32, 32]);
        assert!(t.observed.is_none());
        let labels = ds.y_layout().decode(&t.y);
        assert!(labels.equal(&ds.test().labels.narrow(0, 0, 10)));
    }

    #[test]
    fn downsampling_is_torch_bilinear() {
        let imgs: Vec<u8> = [
            (0.5, 0.3, 0.0, 1.0),
            (1.0, 2.0, 0.4, 0.77),
            (0.7, 4.0, 1.0, 0.0),
        ]
        .iter()
        .flat_map(|&(s, o, x, y)| render_ellipse(s, o, x, y))
        .collect();
        let t = Tensor::from_slice(&imgs)
            .view([3, 1, 64, 64])
            .to_kind(Kind::Float);
        let torch = t.upsample_bilinear2d([32, 32], false, None, None) * 4.0;
        let ours: Vec<u8> = imgs
            .chunks_exact(64 * 64)
            .flat_map(|im| downsample_2x(im, 64))
            .collect();
        let ours = Tensor::from_slice(&ours)
            .view([3, 1, 32, 32])
            .to_kind(Kind::Float);
        assert_eq!(f64::try_from((torch - ours).abs().max()).unwrap(), 0.0);
    }

    /// A small original-format `.npz`: 5 rows of the subset, 3 rows outside it.
    fn small_npz_rows() -> Vec<[i64; 6]> {
        vec![
            [0, 0, 5, 0, 3, 4],  // square: not selected
            [0, 1, 0, 0, 0, 31], // selected
            [0, 1, 2, 5, 7, 7],  // orientation 5: not selected
            [0, 1, 5, 9, 16, 2], // selected
            [0, 1, 3, 10, 31, 0],
            [0, 2, 1, 0, 8, 8], // heart: not selected
            [0, 1, 1, 29, 12, 13],
            [0, 1, 4, 39, 20, 30],
        ]
    }

    fn render_row(l: &[i64; 6]) -> Vec<u8> {
        render_ellipse(
            scale_value(l[2]),
            orientation_value(l[3]),
            position_value(l[4]),
            position_value(l[5]),
        )
    }

    #[test]
    fn npz_loader_selects_the_subset() {
        let dir = tempfile::tempdir().unwrap();
        let rows = small_npz_rows();
        let n = rows.len();
        let classes: Vec<u8> = rows
            .iter()
            .flatten()
            .flat_map(|v| v.to_le_bytes())
            .collect();
        let imgs: Vec<u8> = rows.iter().flat_map(render_row).collect();
        let good = dir.path().join(DSPRITES_NPZ);
        let entries = |imgs_npy: Vec<u8>, classes_npy: Vec<u8>| {
            vec![
                ("imgs.npy", imgs_npy),
                ("latents_classes.npy", classes_npy),
                ("metadata.npy", pickled_npy()),
            ]
        };
        let imgs_npy = npy_bytes("|u1", &[n, 64, 64], &imgs);
        let classes_npy = npy_bytes("<i8", &[n, 6], &classes);
        write_npz(&good, &entries(imgs_npy.clone(), classes_npy.clone()));
        let subset = DSpritesSubset::from_npz(&good).unwrap();
        let selected: Vec<[i64; 6]> = rows.iter().copied().filter(in_subset).collect();
        assert_eq!(subset.latents, selected);
        let expect: Vec<u8> = selected
            .iter()
            .flat_map(|l| downsample_2x(&render_row(l), 64))
            .collect();
        assert_eq!(subset.images, expect);
        assert_eq!(subset.position_bins()[1], [8, 1]);
        let cfg = DSpritesConfig {
            test_size: 2,
            ..DSpritesConfig::default()
        };
        let mut ds = DSprites::from_npz(&good, cfg).unwrap();
        assert_eq!((ds.train().len(), ds.test().len()), (3, 2));
        assert_eq!(
            ds.next_batch(3, Device::Cpu).unwrap().x.size(),
            [3, 1, 32, 32]
        );
        assert!(DSprites::from_npz(&good, DSpritesConfig::default()).is_err());

        let err = |name: &str, e: Vec<(&str, Vec<u8>)>| {
            let p = dir.path().join(name);
            write_npz(&p, &e);
            let e = DSpritesSubset::from_npz(&p).unwrap_err();
            let s = e.to_string();
            assert!(s.contains(name), "{s}");
            s
        };
        // Missing entry.
        let s = err(
            "missing.npz",
            vec![
                ("imgs.npy", imgs_npy.clone()),
                ("metadata.npy", pickled_npy()),
            ],
        );
        assert!(s.contains("no array `latents_classes`"), "{s}");
        // Wrong dtypes.
        let wide: Vec<u8> = imgs
            .iter()
            .flat_map(|&v| u16::from(v).to_le_bytes())
            .collect();
        let s = err(
            "dtype.npz",
            entries(npy_bytes("<u2", &[n, 64, 64], &wide), classes_npy.clone()),
        );
        assert!(
            s.contains("`imgs.npy`") && s.contains("expected uint8"),
            "{s}"
        );
        let int32: Vec<u8> = rows
            .iter()
            .flatten()
            .flat_map(|&v| (v as i32).to_le_bytes())
            .collect();
        let s = err(
            "dtype2.npz",
            entries(imgs_npy.clone(), npy_bytes("<i4", &[n, 6], &int32)),
        );
        assert!(
            s.contains("`latents_classes.npy`") && s.contains("expected int64"),
            "{s}"
        );
        // Truncated image data, and a shape that disagrees with latents_classes.
        let s = err(
            "truncated.npz",
            entries(
                npy_bytes("|u1", &[n, 64, 64], &imgs[..imgs.len() - 100]),
                classes_npy.clone(),
            ),
        );
        assert!(s.contains("truncated"), "{s}");
        let s = err(
            "shape.npz",
            entries(
                npy_bytes("|u1", &[n - 1, 64, 64], &imgs[..(n - 1) * 4096]),
                classes_npy.clone(),
            ),
        );
        assert!(s.contains("expected [8, 64, 64]"), "{s}");
        // Non-binary pixels.
        let mut bright = imgs.clone();
        bright.iter_mut().for_each(|v| *v *= 255);
        let s = err(
            "bright.npz",
            entries(npy_bytes("|u1", &[n, 64, 64], &bright), classes_npy),
        );
        assert!(s.contains("expected binary"), "{s}");
        // A truncated archive file.
        let bytes = std::fs::read(&good).unwrap();
        let cut = dir.path().join("cut.npz");
        std::fs::write(&cut, &bytes[..bytes.len() / 2]).unwrap();
        let s = DSpritesSubset::from_npz(&cut).unwrap_err().to_string();
        assert!(
            s.contains("cut.npz") && s.contains("truncated or corrupt"),
            "{s}"
        );
    }
}
