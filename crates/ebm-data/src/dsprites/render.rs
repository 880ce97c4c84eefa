//! The procedural renderer: an ellipse on the 64 × 64 canvas, and the 2× downsampling.

use super::{POSITION_MIN_PX, POSITION_RANGE_PX, RENDER_SIDE, SEMI_MAJOR_PX, SEMI_MINOR_PX};

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
