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

use std::f64::consts::PI;

mod render;
mod source;
mod subset;

pub use render::{downsample_2x, render_ellipse};
pub use source::{DSprites, DSpritesConfig};
pub use subset::DSpritesSubset;

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

#[cfg(test)]
mod tests;
