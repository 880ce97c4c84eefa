//! The images of the subset, rendered or selected from the original `.npz`.

use super::{
    downsample_2x, in_subset, orientation_value, position_value, render_ellipse, scale_value,
    ELLIPSE_CLASS, NUM_ORIENTATIONS, NUM_POSITIONS, NUM_SCALES, ORIENTATION_CLASSES, RENDER_SIDE,
    SIDE, SUBSET_SIZE,
};
use crate::file_error;
use crate::npz::Npz;
use ebm_core::Result;
use std::path::Path;

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
