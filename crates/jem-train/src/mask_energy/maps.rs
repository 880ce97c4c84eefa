//! [`FactorMap`]: a categorical coordinate group drawn as an image channel of
//! [`MaskCnnEnergy`](super::MaskCnnEnergy).

use tch::Tensor;

/// The image axis along which a [`FactorMap`] draws its group.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MapAxis {
    /// The group is a horizontal coordinate: its value lights pixel columns.
    Columns,
    /// The group is a vertical coordinate: its value lights pixel rows.
    Rows,
}

/// A categorical group drawn as an image channel beside `x` (see the module docs): value `k`
/// of `V` lights the columns or rows whose centres lie within `side · [from + k·w, from +
/// (k+1)·w)`, `w = (to − from)/V`, widened to one pixel about its centre when narrower.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct FactorMap {
    /// The categorical group's index in the layout.
    pub group: usize,
    /// Columns (a horizontal coordinate) or rows (a vertical one).
    pub axis: MapAxis,
    /// Where value 0's part starts, as a fraction of the side.
    pub from: f64,
    /// Where the last value's part ends, as a fraction of the side.
    pub to: f64,
}

impl FactorMap {
    /// The stripe table `[V, side]`: row `k` is 1 on the pixels of value `k`'s part.
    pub(super) fn table(&self, values: usize, side: i64) -> Tensor {
        let (lo, span) = (self.from * side as f64, (self.to - self.from) * side as f64);
        let width = span / values as f64;
        let half = (width / 2.0).max(0.5);
        let mut t = vec![0f32; values * side as usize];
        for k in 0..values {
            let centre = lo + width * (k as f64 + 0.5);
            for j in 0..side as usize {
                if ((j as f64 + 0.5) - centre).abs() <= half + 1e-9 {
                    t[k * side as usize + j] = 1.0;
                }
            }
        }
        Tensor::from_slice(&t).view([values as i64, side])
    }
}
