//! The mask label: from a 64 × 64 render, read back from 32 × 32 images, and compared (IoU).

use super::{MASK_BITS, MASK_SIDE};
use crate::dsprites::{RENDER_SIDE, SIDE};
use tch::{Kind, Tensor};

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
