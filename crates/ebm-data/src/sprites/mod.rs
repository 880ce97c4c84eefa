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
//!
//! [`ORIENTATION_CLASSES`]: crate::dsprites::ORIENTATION_CLASSES
//! [`seeded_permutation`]: crate::seeded_permutation

use crate::dsprites::{NUM_SCALES, POSITION_BINS};

mod holdout;
mod labels;
mod mask;
mod render;
mod scenes;
mod source;
mod split;

pub use holdout::{Holdout, Quadrant};
pub use labels::SpriteLabels;
pub use mask::{mask_16, mask_iou, mask_of_images};
pub use render::render_shape;
pub use scenes::SpriteScenes;
pub use source::{SpritesConfig, StructuredSprites};
pub use split::SpriteSplit;

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

#[cfg(test)]
mod tests;
