//! Every image rendered, with its factors and mask.

use super::{mask_16, render_shape};
use crate::dsprites::{
    downsample_2x, orientation_value, position_value, scale_value, NUM_POSITIONS, NUM_SCALES,
    ORIENTATION_CLASSES, RENDER_SIDE,
};

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
    ///
    /// [`NUM_IMAGES`]: super::NUM_IMAGES
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
