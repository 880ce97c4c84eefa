//! One split of the scenes, with everything a judge needs.

use super::SpriteLabels;
use crate::images::ImageSplit;
use tch::{Kind, Tensor};

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

    pub(super) fn image_split(&self, variant: SpriteLabels) -> ImageSplit {
        ImageSplit {
            images: self.images.shallow_clone(),
            labels: self.labels(variant),
            scale: 4.0,
        }
    }
}
