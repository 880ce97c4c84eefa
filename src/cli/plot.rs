//! Minimal PNG plots (scatter panels, heat maps, image grids) with the `image` crate.

use anyhow::{Context, Result};
use image::{Rgb, RgbImage};
use std::path::Path;

/// Distinct colours for classes in scatter plots.
pub const PALETTE: [[u8; 3]; 8] = [
    [228, 26, 28],
    [55, 126, 184],
    [77, 175, 74],
    [152, 78, 163],
    [255, 127, 0],
    [166, 86, 40],
    [247, 129, 191],
    [90, 90, 90],
];

/// A square scatter panel of `size` pixels over `[-extent, extent]²`; `points` with a colour each.
pub fn scatter(points: &[(f64, f64, [u8; 3])], extent: f64, size: u32) -> RgbImage {
    let mut img = RgbImage::from_pixel(size, size, Rgb([255, 255, 255]));
    let to_px = |v: f64| ((v + extent) / (2.0 * extent) * size as f64) as i64;
    for &(x, y, c) in points {
        let (px, py) = (to_px(x), size as i64 - 1 - to_px(y));
        for dx in -1..=1 {
            for dy in -1..=1 {
                let (a, b) = (px + dx, py + dy);
                if a >= 0 && b >= 0 && a < size as i64 && b < size as i64 {
                    img.put_pixel(a as u32, b as u32, Rgb(c));
                }
            }
        }
    }
    frame(&mut img);
    img
}

/// A heat map of `values[row][col]` (row 0 at the top), normalised to its own maximum.
pub fn heatmap(values: &[Vec<f64>], scale: u32) -> RgbImage {
    let rows = values.len() as u32;
    let cols = values.first().map_or(0, Vec::len) as u32;
    let max = values
        .iter()
        .flatten()
        .copied()
        .fold(f64::MIN, f64::max)
        .max(1e-300);
    let mut img = RgbImage::new(cols * scale, rows * scale);
    for (r, row) in values.iter().enumerate() {
        for (c, &v) in row.iter().enumerate() {
            let t = (v / max).clamp(0.0, 1.0);
            // white → dark blue
            let px = Rgb([
                (255.0 * (1.0 - t)) as u8,
                (255.0 * (1.0 - 0.8 * t)) as u8,
                (255.0 * (1.0 - 0.45 * t)) as u8,
            ]);
            for i in 0..scale {
                for j in 0..scale {
                    img.put_pixel(c as u32 * scale + i, r as u32 * scale + j, px);
                }
            }
        }
    }
    frame(&mut img);
    img
}

/// A greyscale image from values in [0, 1], `h × w`, scaled up by `scale`.
pub fn grey(values: &[f64], h: u32, w: u32, scale: u32) -> RgbImage {
    let mut img = RgbImage::new(w * scale, h * scale);
    for r in 0..h {
        for c in 0..w {
            let v = (values[(r * w + c) as usize].clamp(0.0, 1.0) * 255.0) as u8;
            for i in 0..scale {
                for j in 0..scale {
                    img.put_pixel(c * scale + i, r * scale + j, Rgb([v, v, v]));
                }
            }
        }
    }
    img
}

fn frame(img: &mut RgbImage) {
    let (w, h) = img.dimensions();
    for x in 0..w {
        img.put_pixel(x, 0, Rgb([0, 0, 0]));
        img.put_pixel(x, h - 1, Rgb([0, 0, 0]));
    }
    for y in 0..h {
        img.put_pixel(0, y, Rgb([0, 0, 0]));
        img.put_pixel(w - 1, y, Rgb([0, 0, 0]));
    }
}

/// Tiles equally sized panels into a grid of `cols` columns with a `gap`-pixel margin.
pub fn grid(panels: &[RgbImage], cols: usize, gap: u32) -> RgbImage {
    let (pw, ph) = panels.first().map_or((1, 1), |p| p.dimensions());
    let rows = panels.len().div_ceil(cols.max(1)) as u32;
    let cols_u = cols as u32;
    let mut img = RgbImage::from_pixel(
        cols_u * (pw + gap) + gap,
        rows * (ph + gap) + gap,
        Rgb([255, 255, 255]),
    );
    for (i, p) in panels.iter().enumerate() {
        let (r, c) = ((i / cols) as u32, (i % cols) as u32);
        image::imageops::overlay(
            &mut img,
            p,
            (gap + c * (pw + gap)) as i64,
            (gap + r * (ph + gap)) as i64,
        );
    }
    img
}

/// Writes `img` as a PNG file.
pub fn save(img: &RgbImage, path: &Path) -> Result<()> {
    img.save(path)
        .with_context(|| format!("cannot write {}", path.display()))
}

/// One 2 × enlarged grey panel per 32 × 32 image of `x` (`[N, …]` in the model's logit space).
pub fn sprite_panels(x: &tch::Tensor) -> Result<Vec<RgbImage>> {
    use tch::{Device, Kind};
    let v = Vec::<f64>::try_from(
        ebm_data::from_logit(&x.to_device(Device::Cpu))
            .to_kind(Kind::Double)
            .reshape([-1]),
    )?;
    Ok(v.chunks(1024).map(|c| grey(c, 32, 32, 2)).collect())
}
