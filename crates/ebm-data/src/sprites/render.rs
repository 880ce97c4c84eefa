//! The procedural renderer of the three shapes on the 64 × 64 canvas.

use super::{HEART_UNIT_PX, SQUARE_HALF_PX};
use crate::dsprites::{render_ellipse, POSITION_MIN_PX, POSITION_RANGE_PX, RENDER_SIDE};

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
