//! The dSprites judge: reads the sprite's position and shape from the pixels.
//!
//! Rule, per image (intensities in `[0, 1]`, `[H, W]`):
//! 1. threshold at [`SpriteJudge::THRESHOLD`] (½: for the data, pixels at least half covered by
//!    the 64 × 64 ellipse);
//! 2. 8-connected components of the foreground; components smaller than
//!    [`SpriteJudge::MIN_COMPONENT`] pixels are specks and ignored;
//! 3. the sprite is the largest component: its area (pixels) and centroid (mean column, mean
//!    row);
//! 4. judged bins: for each coordinate, the bin whose mean centroid on the fitting data is
//!    nearest (bin 0 of the first label group is the leftmost column position, of the second
//!    the top row position — the dSprites convention of this crate);
//! 5. *valid*: exactly one component of at least `MIN_COMPONENT` pixels, with an area inside
//!    the range seen on the fitting data widened by [`SpriteJudge::AREA_MARGIN`] on each side.
//!
//! The judge is fitted on real images (the training split); it never sees the model.

use crate::file_error;
use ebm_core::{Error, Result};
use std::path::Path;
use tch::{Device, Kind, Tensor};

/// What the judge reads from one image.
#[derive(Clone, Debug, PartialEq)]
pub struct SpriteReading {
    /// Components of at least [`SpriteJudge::MIN_COMPONENT`] pixels.
    pub components: usize,
    /// Area in pixels of the largest component (0 when there is none).
    pub area: usize,
    /// Centroid `(column, row)` of the largest component, in pixels (`None` when there is none).
    pub centroid: Option<(f64, f64)>,
    /// Judged `[x bin, y bin]` from the centroid (`None` when there is no component).
    pub bins: Option<[i64; 2]>,
    /// One component with a plausible area.
    pub valid: bool,
}

/// Reads sprite position bins and validity from images; fitted on real data.
#[derive(Clone, Debug, PartialEq)]
pub struct SpriteJudge {
    /// Mean centroid per bin: `centers[0][k]` = mean column of bin `k` of the first label
    /// group, `centers[1][k]` = mean row of bin `k` of the second.
    centers: [Vec<f64>; 2],
    /// Accepted area range (pixels), inclusive.
    area_range: (f64, f64),
}

impl SpriteJudge {
    /// Foreground threshold on intensities.
    pub const THRESHOLD: f64 = 0.5;
    /// Components smaller than this many pixels are ignored as specks.
    pub const MIN_COMPONENT: usize = 3;
    /// Relative widening of the fitted area range on each side.
    pub const AREA_MARGIN: f64 = 0.1;

    /// Fits bin centres and the area range on real images `[N, 1, H, W]` or `[N, H, W]`
    /// (intensities in `[0, 1]`) with their position bins `labels` `[N, 2]` (int64). Every
    /// bin of both groups must occur.
    pub fn fit(images: &Tensor, labels: &Tensor, bins: usize) -> Result<Self> {
        let (side_h, side_w, pixels) = host_images(images, "SpriteJudge::fit")?;
        let n = pixels.len() / (side_h * side_w);
        let lab = Vec::<i64>::try_from(
            labels
                .to_device(Device::Cpu)
                .to_kind(Kind::Int64)
                .reshape([-1]),
        )?;
        if lab.len() != 2 * n {
            return Err(Error::Shape {
                op: "SpriteJudge::fit",
                what: "labels",
                expected: format!("[{n}, 2]"),
                got: labels.size(),
            });
        }
        let mut sums = [vec![0.0; bins], vec![0.0; bins]];
        let mut counts = [vec![0usize; bins], vec![0usize; bins]];
        let (mut lo, mut hi) = (f64::INFINITY, 0.0f64);
        for i in 0..n {
            let img = &pixels[i * side_h * side_w..(i + 1) * side_h * side_w];
            let comps = components(img, side_h, side_w);
            let Some(big) = comps.first() else {
                return Err(Error::config(
                    "SpriteJudge::fit",
                    i,
                    "a fitting image has no sprite (are the intensities in [0, 1]?)",
                ));
            };
            lo = lo.min(big.area as f64);
            hi = hi.max(big.area as f64);
            for (g, coord) in [(0usize, big.col), (1, big.row)] {
                let b = lab[2 * i + g];
                if b < 0 || b as usize >= bins {
                    return Err(Error::config("labels", b, format!("must be in 0..{bins}")));
                }
                sums[g][b as usize] += coord;
                counts[g][b as usize] += 1;
            }
        }
        let mut centers = [vec![0.0; bins], vec![0.0; bins]];
        for g in 0..2 {
            for k in 0..bins {
                if counts[g][k] == 0 {
                    return Err(Error::config(
                        "SpriteJudge::fit",
                        k,
                        format!("bin {k} of label group {g} has no fitting image"),
                    ));
                }
                centers[g][k] = sums[g][k] / counts[g][k] as f64;
            }
        }
        Ok(Self {
            centers,
            area_range: (
                lo * (1.0 - Self::AREA_MARGIN),
                hi * (1.0 + Self::AREA_MARGIN),
            ),
        })
    }

    /// The accepted area range in pixels.
    pub fn area_range(&self) -> (f64, f64) {
        self.area_range
    }

    /// Reads every image of `images` (`[N, 1, H, W]` or `[N, H, W]`, intensities in `[0, 1]`;
    /// any device and float kind; non-finite pixels count as background).
    pub fn read(&self, images: &Tensor) -> Result<Vec<SpriteReading>> {
        let (h, w, pixels) = host_images(images, "SpriteJudge::read")?;
        Ok(pixels
            .chunks(h * w)
            .map(|img| {
                let comps = components(img, h, w);
                let Some(big) = comps.first() else {
                    return SpriteReading {
                        components: 0,
                        area: 0,
                        centroid: None,
                        bins: None,
                        valid: false,
                    };
                };
                let bins = [
                    nearest(&self.centers[0], big.col),
                    nearest(&self.centers[1], big.row),
                ];
                let a = big.area as f64;
                SpriteReading {
                    components: comps.len(),
                    area: big.area,
                    centroid: Some((big.col, big.row)),
                    bins: Some(bins),
                    valid: comps.len() == 1 && a >= self.area_range.0 && a <= self.area_range.1,
                }
            })
            .collect())
    }

    /// Fraction of valid sprites among `readings`.
    pub fn valid_rate(readings: &[SpriteReading]) -> f64 {
        if readings.is_empty() {
            return 0.0;
        }
        readings.iter().filter(|r| r.valid).count() as f64 / readings.len() as f64
    }

    /// Scores samples generated with label group `group` (0 = x, 1 = y) clamped to
    /// `clamped[i]`: a sample counts as judged only when it is a valid sprite; the rank
    /// correlation uses the centroid coordinate of every sample with a component.
    pub fn conditional_score(
        readings: &[SpriteReading],
        group: usize,
        clamped: &[i64],
    ) -> super::ConditionalScore {
        let judged: Vec<Option<i64>> = readings
            .iter()
            .map(|r| r.bins.filter(|_| r.valid).map(|b| b[group.min(1)]))
            .collect();
        let position: Vec<Option<f64>> = readings
            .iter()
            .map(|r| r.centroid.map(|(c, rr)| if group == 0 { c } else { rr }))
            .collect();
        super::ConditionalScore::new(clamped, &judged, &position)
    }

    /// Saves the fitted judge as a small text file (for inspection and reuse).
    pub fn save(&self, path: &Path) -> Result<()> {
        let text = format!(
            "area_range {} {}\nx {}\ny {}\n",
            self.area_range.0,
            self.area_range.1,
            join(&self.centers[0]),
            join(&self.centers[1])
        );
        std::fs::write(path, text).map_err(|e| file_error(path, e.to_string()))
    }
}

fn join(v: &[f64]) -> String {
    v.iter()
        .map(|c| format!("{c:.3}"))
        .collect::<Vec<_>>()
        .join(" ")
}

fn nearest(centers: &[f64], v: f64) -> i64 {
    let mut best = 0;
    for (k, c) in centers.iter().enumerate() {
        if (c - v).abs() < (centers[best] - v).abs() {
            best = k;
        }
    }
    best as i64
}

/// `(H, W, pixels)` of `[N, 1, H, W]` or `[N, H, W]` images, row-major on the host.
fn host_images(images: &Tensor, op: &'static str) -> Result<(usize, usize, Vec<f32>)> {
    let s = images.size();
    let (h, w) = match s.as_slice() {
        [_, 1, h, w] | [_, h, w] => (*h, *w),
        _ => {
            return Err(Error::Shape {
                op,
                what: "images",
                expected: "[N, 1, H, W] or [N, H, W]".into(),
                got: s,
            })
        }
    };
    let v = Vec::<f32>::try_from(
        images
            .to_device(Device::Cpu)
            .to_kind(Kind::Float)
            .reshape([-1]),
    )?;
    Ok((h as usize, w as usize, v))
}

/// A connected component: area and centroid.
struct Component {
    area: usize,
    col: f64,
    row: f64,
}

/// 8-connected foreground components of at least `MIN_COMPONENT` pixels, largest first.
fn components(img: &[f32], h: usize, w: usize) -> Vec<Component> {
    let fg: Vec<bool> = img
        .iter()
        .map(|&p| f64::from(p) >= SpriteJudge::THRESHOLD)
        .collect();
    let mut seen = vec![false; h * w];
    let mut out = Vec::new();
    let mut stack = Vec::new();
    for start in 0..h * w {
        if !fg[start] || seen[start] {
            continue;
        }
        seen[start] = true;
        stack.push(start);
        let (mut area, mut sc, mut sr) = (0usize, 0.0, 0.0);
        while let Some(p) = stack.pop() {
            let (r, c) = (p / w, p % w);
            area += 1;
            sc += c as f64;
            sr += r as f64;
            for dr in -1i64..=1 {
                for dc in -1i64..=1 {
                    let (rr, cc) = (r as i64 + dr, c as i64 + dc);
                    if rr < 0 || cc < 0 || rr >= h as i64 || cc >= w as i64 {
                        continue;
                    }
                    let q = rr as usize * w + cc as usize;
                    if fg[q] && !seen[q] {
                        seen[q] = true;
                        stack.push(q);
                    }
                }
            }
        }
        if area >= SpriteJudge::MIN_COMPONENT {
            out.push(Component {
                area,
                col: sc / area as f64,
                row: sr / area as f64,
            });
        }
    }
    out.sort_by_key(|c| std::cmp::Reverse(c.area));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{DSprites, DSpritesConfig};

    fn data() -> DSprites {
        DSprites::generate(DSpritesConfig::default()).unwrap()
    }

    /// On the real test images (fitted on the training split) the judge reads the labelled
    /// bins: ≥ 0.98 within ±1 on both coordinates, and (nearly) every image is a valid sprite.
    #[test]
    fn reads_real_test_images() {
        let d = data();
        let judge = SpriteJudge::fit(&d.train().intensities(), &d.train().labels, 16).unwrap();
        let readings = judge.read(&d.test().intensities()).unwrap();
        let labels = Vec::<i64>::try_from(d.test().labels.reshape([-1])).unwrap();
        let valid = SpriteJudge::valid_rate(&readings);
        assert!(valid >= 0.99, "valid rate on real test images {valid}");
        for g in 0..2 {
            let clamped: Vec<i64> = labels.iter().skip(g).step_by(2).copied().collect();
            let s = SpriteJudge::conditional_score(&readings, g, &clamped);
            assert!(s.within_one >= 0.98, "group {g}: {s:?}");
            assert!(s.exact >= 0.6, "group {g}: {s:?}");
            assert!(s.rank_correlation > 0.95, "group {g}: {s:?}");
        }
    }

    /// Noise is not a sprite (and, being invalid, never counts as within ±1 of a clamped bin);
    /// real sprites scored against bins that are not theirs score near chance (3/16 within
    /// ±1), so a judge that ignored the clamped bins or read every image as "right" fails.
    #[test]
    fn noise_and_wrong_bins_score_near_chance() {
        let d = data();
        let judge = SpriteJudge::fit(&d.train().intensities(), &d.train().labels, 16).unwrap();
        tch::manual_seed(3);
        let noise = Tensor::rand([512, 1, 32, 32], (Kind::Float, Device::Cpu));
        let readings = judge.read(&noise).unwrap();
        assert!(SpriteJudge::valid_rate(&readings) < 0.02);
        let clamped: Vec<i64> = (0..512).map(|i| i % 16).collect();
        let s = SpriteJudge::conditional_score(&readings, 0, &clamped);
        assert!(s.within_one < 0.02, "{s:?}");
        // Real test sprites (valid, read where they are) against their bins moved by 8.
        let readings = judge.read(&d.test().intensities()).unwrap();
        let labels = Vec::<i64>::try_from(d.test().labels.reshape([-1])).unwrap();
        for g in 0..2 {
            let own: Vec<i64> = labels.iter().skip(g).step_by(2).copied().collect();
            let right = SpriteJudge::conditional_score(&readings, g, &own);
            assert!(right.within_one >= 0.98, "group {g}: {right:?}");
            let moved: Vec<i64> = own.iter().map(|b| (b + 8) % 16).collect();
            let wrong = SpriteJudge::conditional_score(&readings, g, &moved);
            assert!(wrong.within_one < 0.05, "group {g}: {wrong:?}");
            assert!(wrong.rank_correlation < 0.5, "group {g}: {wrong:?}");
        }
        // Blank images are not sprites.
        let blank = Tensor::zeros([4, 1, 32, 32], (Kind::Float, Device::Cpu));
        assert!(judge
            .read(&blank)
            .unwrap()
            .iter()
            .all(|r| !r.valid && r.bins.is_none()));
    }

    /// Two sprites in one image are not valid; a shifted real sprite is judged at its new place.
    #[test]
    fn two_sprites_invalid_and_shift_moves_the_bin() {
        let d = data();
        let judge = SpriteJudge::fit(&d.train().intensities(), &d.train().labels, 16).unwrap();
        let test = d.test().intensities();
        let labels = &d.test().labels;
        // The first test image whose x bin is at most 5, shifted right by 4 pixels: the 16 bins
        // span 16 pixels of the 32 × 32 image, so that is 4 bins.
        let xs = Vec::<i64>::try_from(labels.select(1, 0)).unwrap();
        let i = xs.iter().position(|&b| b <= 5).unwrap() as i64;
        let img = test.narrow(0, i, 1);
        let shifted = img.roll([4], [3]);
        let r = judge.read(&shifted).unwrap();
        assert!(r[0].valid);
        let moved = r[0].bins.unwrap()[0] - xs[i as usize];
        assert!((3..=5).contains(&moved), "moved by {moved} bins");
        let two = (&img + &img.roll([16], [3]) + img.roll([16], [2])).clamp(0.0, 1.0);
        let r = judge.read(&two).unwrap();
        assert!(!r[0].valid && r[0].components >= 2, "{:?}", r[0]);
        // Wrong shapes are errors, not panics.
        assert!(judge
            .read(&Tensor::zeros([3, 4], (Kind::Float, Device::Cpu)))
            .is_err());
    }
}
