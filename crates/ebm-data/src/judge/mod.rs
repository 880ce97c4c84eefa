//! Judges of generated samples: independent measurements of whether samples look like the data
//! and follow the labels they were generated under. A judge never uses the energy model; each
//! is fitted or trained on the training split only.
//!
//! - [`SpriteJudge`] (dSprites): threshold, connected components, area and centroid of the
//!   sprite → judged position bins, and whether the image is one plausible sprite;
//! - [`DigitJudge`] (MNIST): a small CNN classifier trained on the training split, cached on
//!   disk under a hash of its data;
//! - [`toy_bayes_attributes`] (8 Gaussians): the Bayes classifier of the known mixture.
//!
//! [`ConditionalScore`] summarises conditional samples against the clamped values: the exact
//! rate, the rate within ±1 bin (for ordered labels such as positions) and Spearman's rank
//! correlation between clamped and judged values.

mod digits;
mod sprites;
mod toy;

pub use digits::{DigitJudge, DigitJudgeReport};
pub use sprites::{SpriteJudge, SpriteReading};
pub use toy::toy_bayes_attributes;

use serde::{Deserialize, Serialize};

/// How conditional samples follow their clamped labels.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ConditionalScore {
    /// Samples scored.
    pub samples: usize,
    /// Fraction whose judged value equals the clamped value (an unjudgeable sample counts as
    /// wrong).
    pub exact: f64,
    /// Fraction whose judged value is within ±1 of the clamped value (ordered labels).
    pub within_one: f64,
    /// Spearman's rank correlation between the clamped values and the judged continuous
    /// quantity (e.g. the centroid), over the judgeable samples; 0 when undefined.
    pub rank_correlation: f64,
}

impl ConditionalScore {
    /// Scores `clamped[i]` against `judged[i]` (`None` = the judge could not read sample `i`)
    /// and the continuous reading `position[i]` used for the rank correlation.
    pub fn new(clamped: &[i64], judged: &[Option<i64>], position: &[Option<f64>]) -> Self {
        let n = clamped.len();
        if n == 0 {
            return Self::default();
        }
        let mut exact = 0usize;
        let mut near = 0usize;
        for (c, j) in clamped.iter().zip(judged) {
            if let Some(j) = j {
                exact += usize::from(j == c);
                near += usize::from((j - c).abs() <= 1);
            }
        }
        let (a, b): (Vec<f64>, Vec<f64>) = clamped
            .iter()
            .zip(position)
            .filter_map(|(&c, p)| p.map(|p| (c as f64, p)))
            .unzip();
        Self {
            samples: n,
            exact: exact as f64 / n as f64,
            within_one: near as f64 / n as f64,
            rank_correlation: spearman(&a, &b),
        }
    }
}

/// Ranks `1..=n` of `v`, ties given their average rank.
fn ranks(v: &[f64]) -> Vec<f64> {
    let mut idx: Vec<usize> = (0..v.len()).collect();
    idx.sort_by(|&i, &j| v[i].total_cmp(&v[j]));
    let mut r = vec![0.0; v.len()];
    let mut i = 0;
    while i < idx.len() {
        let mut j = i;
        while j + 1 < idx.len() && v[idx[j + 1]] == v[idx[i]] {
            j += 1;
        }
        let avg = (i + j) as f64 / 2.0 + 1.0;
        for &k in &idx[i..=j] {
            r[k] = avg;
        }
        i = j + 1;
    }
    r
}

/// Spearman's rank correlation of `a` and `b` (Pearson correlation of the average ranks); 0
/// when fewer than two pairs or either side is constant.
pub fn spearman(a: &[f64], b: &[f64]) -> f64 {
    let n = a.len().min(b.len());
    if n < 2 {
        return 0.0;
    }
    let (ra, rb) = (ranks(&a[..n]), ranks(&b[..n]));
    let mean = (n as f64 + 1.0) / 2.0;
    let (mut sab, mut saa, mut sbb) = (0.0, 0.0, 0.0);
    for i in 0..n {
        let (x, y) = (ra[i] - mean, rb[i] - mean);
        sab += x * y;
        saa += x * x;
        sbb += y * y;
    }
    if saa == 0.0 || sbb == 0.0 {
        0.0
    } else {
        sab / (saa * sbb).sqrt()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spearman_known_values() {
        assert!((spearman(&[1.0, 2.0, 3.0], &[10.0, 20.0, 35.0]) - 1.0).abs() < 1e-12);
        assert!((spearman(&[1.0, 2.0, 3.0], &[3.0, 2.0, 1.0]) + 1.0).abs() < 1e-12);
        // With ties: ranks a = [1.5, 1.5, 3], b = [1, 2, 3] → r = 0.866…
        let r = spearman(&[1.0, 1.0, 2.0], &[1.0, 2.0, 3.0]);
        assert!((r - 0.75f64.sqrt()).abs() < 1e-12, "{r}");
        assert_eq!(spearman(&[1.0, 1.0], &[1.0, 2.0]), 0.0);
    }

    #[test]
    fn conditional_score_counts() {
        let s = ConditionalScore::new(
            &[0, 5, 9, 3],
            &[Some(0), Some(6), None, Some(7)],
            &[Some(0.1), Some(6.0), None, Some(7.0)],
        );
        assert_eq!(s.samples, 4);
        assert_eq!(s.exact, 0.25);
        assert_eq!(s.within_one, 0.5);
        assert!(s.rank_correlation > 0.0);
    }
}
